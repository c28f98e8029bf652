// Package helm holds the rendering tests of the nomnom Helm chart. They
// render the chart in-process with the Helm SDK, exactly as `helm template`
// would, and check the contracts between its objects that a typo in a
// template would silently break: names that must match, secrets that must
// never be inlined, probes, hooks and the autoscaling arithmetic.
package helm

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
)

const (
	chartDir     = "nomnom"
	umbrellaDir  = "nomnom-nats"
	clusterFile  = "nomnom/values-cluster.yaml"
	releaseName  = "prod"
	namespace    = "ingest"
	kedaAPI      = "keda.sh/v1alpha1"
	databaseURL  = "postgres://nomnom:db-s3cret-pw@db.internal:5432/nomnom?sslmode=require"
	natsPassword = "nats-s3cret-pw"
	natsToken    = "nats-s3cret-token"
	natsCreds    = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.creds-s3cret\n------END NATS USER JWT------"
	apiKeyLine   = "acme:api-s3cret-key"
)

// kube131 is a cluster new enough for the native preStop sleep action.
var kube131 = &chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}

// minimal is the one value the chart cannot default: where PostgreSQL is.
var minimal = []string{"database.url=" + databaseURL}

// renderOpts describe one `helm template` run.
type renderOpts struct {
	files []string // -f
	set   []string // --set
	keda  bool     // the cluster serves keda.sh/v1alpha1
	apis  []string // further API versions the cluster serves (--api-versions)
	kube  *chartutil.KubeVersion
}

// object is one rendered manifest.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Hook       bool
	Raw        []byte
	Map        map[string]any
}

// manifest is everything one render produced.
type manifest struct {
	objects []object
}

func renderValues(t *testing.T, o renderOpts) map[string]any {
	t.Helper()
	vals, err := (&values.Options{ValueFiles: o.files, Values: o.set}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("merge values: %v", err)
	}
	return vals
}

// render renders the chart as `helm install --dry-run` does client-side, with
// hooks, and parses every document.
func render(t *testing.T, o renderOpts) (*manifest, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	inst.KubeVersion = o.kube
	if inst.KubeVersion == nil {
		inst.KubeVersion = kube131
	}
	if o.keda {
		inst.APIVersions = chartutil.VersionSet{kedaAPI, kedaAPI + "/ScaledObject"}
	}
	inst.APIVersions = append(inst.APIVersions, o.apis...)
	rel, err := inst.Run(ch, renderValues(t, o))
	if err != nil {
		return nil, err
	}
	m := &manifest{}
	m.add(t, rel.Manifest, false)
	for _, h := range rel.Hooks {
		m.add(t, h.Manifest, true)
	}
	return m, nil
}

func mustRender(t *testing.T, o renderOpts) *manifest {
	t.Helper()
	m, err := render(t, o)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return m
}

// add parses a multi-document manifest; every document must be an object
// with apiVersion, kind and name, and known kinds must decode strictly into
// their Kubernetes types (a misplaced or misspelt field fails here).
func (m *manifest) add(t *testing.T, text string, hook bool) {
	t.Helper()
	for file, doc := range releaseutil.SplitManifests(text) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s: not YAML: %v\n%s", file, err, doc)
		}
		if obj == nil {
			continue // a template that rendered only comments
		}
		o := object{Raw: []byte(doc), Map: obj, Hook: hook}
		o.APIVersion, _ = obj["apiVersion"].(string)
		o.Kind, _ = obj["kind"].(string)
		if md, ok := obj["metadata"].(map[string]any); ok {
			o.Name, _ = md["name"].(string)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Name == "" {
			t.Fatalf("%s: object without apiVersion, kind or name:\n%s", file, doc)
		}
		if typed := typedFor(o.Kind); typed != nil {
			if err := yaml.UnmarshalStrict(o.Raw, typed); err != nil {
				t.Fatalf("%s %s: does not decode as %T: %v\n%s", o.Kind, o.Name, typed, err, doc)
			}
		}
		m.objects = append(m.objects, o)
	}
}

func typedFor(kind string) any {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}
	case "Service":
		return &corev1.Service{}
	case "Secret":
		return &corev1.Secret{}
	case "HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "Job":
		return &batchv1.Job{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	}
	return nil
}

func (m *manifest) find(kind, name string) (object, bool) {
	for _, o := range m.objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (m *manifest) ofKind(kind string) []object {
	var out []object
	for _, o := range m.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func decode[T any](t *testing.T, m *manifest, kind, name string) *T {
	t.Helper()
	o, ok := m.find(kind, name)
	if !ok {
		t.Fatalf("no %s %q rendered; have %v", kind, name, m.names())
	}
	v := new(T)
	if err := yaml.UnmarshalStrict(o.Raw, v); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	return v
}

func (m *manifest) names() []string {
	var out []string
	for _, o := range m.objects {
		out = append(out, o.Kind+"/"+o.Name)
	}
	return out
}

var (
	gatewayName = releaseName + "-nomnom-gateway"
	workerName  = releaseName + "-nomnom-worker"
	jobName     = releaseName + "-nomnom-migrate"
	secretName  = releaseName + "-nomnom-secrets"
)

func envOf(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func envValue(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	e, ok := envOf(c, name)
	if !ok {
		t.Fatalf("container %s has no %s", c.Name, name)
	}
	if e.ValueFrom != nil {
		t.Fatalf("container %s: %s is not a plain value", c.Name, name)
	}
	return e.Value
}

func envInt(t *testing.T, c corev1.Container, name string) int {
	t.Helper()
	n, err := strconv.Atoi(envValue(t, c, name))
	if err != nil {
		t.Fatalf("container %s: %s: %v", c.Name, name, err)
	}
	return n
}

// scaledObject is the part of a KEDA ScaledObject the chart sets.
type scaledObject struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int `json:"minReplicaCount"`
		MaxReplicaCount int `json:"maxReplicaCount"`
		PollingInterval int `json:"pollingInterval"`
		CooldownPeriod  int `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

func TestRenderContracts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        renderOpts
		wantKeda    bool
		wantWorkHPA bool
		replicas    string
		seeds       int
	}{
		{"defaults with KEDA", renderOpts{set: minimal, keda: true}, true, false, "1", 1},
		{"defaults without KEDA CRD", renderOpts{set: minimal}, false, true, "1", 1},
		{"KEDA disabled though installed", renderOpts{set: append([]string{"worker.keda.enabled=false"}, minimal...), keda: true}, false, true, "1", 1},
		{"cluster with KEDA", renderOpts{files: []string{clusterFile}, set: minimal, keda: true}, true, false, "3", 3},
		{"cluster without KEDA CRD", renderOpts{files: []string{clusterFile}, set: minimal}, false, true, "3", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustRender(t, tt.opts)
			for _, want := range []struct{ kind, name string }{
				{"Deployment", gatewayName}, {"Service", gatewayName},
				{"HorizontalPodAutoscaler", gatewayName}, {"PodDisruptionBudget", gatewayName},
				{"Deployment", workerName}, {"Job", jobName}, {"Secret", secretName},
			} {
				if _, ok := m.find(want.kind, want.name); !ok {
					t.Errorf("missing %s/%s; have %v", want.kind, want.name, m.names())
				}
			}

			worker := decode[appsv1.Deployment](t, m, "Deployment", workerName)
			wc := worker.Spec.Template.Spec.Containers[0]

			_, hasSO := m.find("ScaledObject", workerName)
			_, hasHPA := m.find("HorizontalPodAutoscaler", workerName)
			if hasSO != tt.wantKeda || len(m.ofKind("ScaledObject")) != map[bool]int{true: 1}[tt.wantKeda] {
				t.Errorf("ScaledObject rendered = %v, want %v", hasSO, tt.wantKeda)
			}
			if hasHPA != tt.wantWorkHPA {
				t.Errorf("worker HPA rendered = %v, want %v", hasHPA, tt.wantWorkHPA)
			}
			if worker.Spec.Replicas != nil {
				t.Errorf("worker Deployment sets replicas %d although an autoscaler owns it", *worker.Spec.Replicas)
			}
			if hasSO {
				checkScaledObject(t, m, wc)
			}
			if hasHPA {
				hpa := decode[autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler", workerName)
				if hpa.Spec.ScaleTargetRef.Name != workerName || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("worker HPA targets %+v", hpa.Spec.ScaleTargetRef)
				}
				if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
					t.Errorf("worker HPA metrics %+v, want CPU", hpa.Spec.Metrics)
				}
			}

			gateway := decode[appsv1.Deployment](t, m, "Deployment", gatewayName)
			job := decode[batchv1.Job](t, m, "Job", jobName)
			containers := map[string]corev1.Container{
				"gateway": gateway.Spec.Template.Spec.Containers[0],
				"worker":  wc,
				"migrate": job.Spec.Template.Spec.Containers[0],
			}
			for who, c := range containers {
				if got := envValue(t, c, "NATS_REPLICAS"); got != tt.replicas {
					t.Errorf("%s: NATS_REPLICAS=%s, want %s", who, got, tt.replicas)
				}
				seeds := strings.Split(envValue(t, c, "NATS_URL"), ",")
				if len(seeds) != tt.seeds {
					t.Errorf("%s: NATS_URL has %d seeds, want %d: %v", who, len(seeds), tt.seeds, seeds)
				}
				for _, s := range seeds {
					if u, err := url.Parse(s); err != nil || u.Scheme != "nats" || u.Port() != "4222" || u.User != nil {
						t.Errorf("%s: seed %q is not nats://host:4222 without credentials", who, s)
					}
				}
				if envValue(t, c, "NATS_STREAM") != envValue(t, wc, "NATS_STREAM") {
					t.Errorf("%s and worker disagree on NATS_STREAM", who)
				}
			}
			checkGateway(t, m, gateway)
			checkWorkerProbes(t, wc)
			checkMigrationJob(t, m, job, wc)
			checkNoInlineSecrets(t, m, containers)

			gwHPA := decode[autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler", gatewayName)
			if gwHPA.Spec.ScaleTargetRef.Name != gatewayName {
				t.Errorf("gateway HPA targets %q", gwHPA.Spec.ScaleTargetRef.Name)
			}
			if want := map[string]int32{"1": 2, "3": 3}[tt.replicas]; gwHPA.Spec.MinReplicas == nil || *gwHPA.Spec.MinReplicas != want {
				t.Errorf("gateway HPA minReplicas = %v, want %d", gwHPA.Spec.MinReplicas, want)
			}
			pdb := decode[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", gatewayName)
			for k, v := range pdb.Spec.Selector.MatchLabels {
				if gateway.Spec.Template.Labels[k] != v {
					t.Errorf("PDB selector %s=%s does not match the gateway pods", k, v)
				}
			}
			svc := decode[corev1.Service](t, m, "Service", gatewayName)
			for k, v := range svc.Spec.Selector {
				if gateway.Spec.Template.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not match the gateway pods", k, v)
				}
			}
			if worker.Spec.Template.Labels["app.kubernetes.io/component"] == gateway.Spec.Template.Labels["app.kubernetes.io/component"] {
				t.Error("gateway and worker pods share a component label, so the Service would select workers")
			}
		})
	}
}

// checkScaledObject: the scaler watches the consumer and stream the worker
// actually uses, targets the worker Deployment, and its lagThreshold is each
// replica's share of the consumer-wide MaxAckPending window.
func checkScaledObject(t *testing.T, m *manifest, wc corev1.Container) {
	t.Helper()
	o, _ := m.find("ScaledObject", workerName)
	if o.APIVersion != kedaAPI {
		t.Errorf("ScaledObject apiVersion %s", o.APIVersion)
	}
	var so scaledObject
	if err := yaml.Unmarshal(o.Raw, &so); err != nil {
		t.Fatalf("ScaledObject: %v", err)
	}
	if so.Spec.ScaleTargetRef.Name != workerName {
		t.Errorf("scaleTargetRef.name = %q, want the worker Deployment %q", so.Spec.ScaleTargetRef.Name, workerName)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
		t.Fatalf("triggers = %+v, want one nats-jetstream", so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	for _, k := range []string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"} {
		if md[k] == "" {
			t.Errorf("scaler metadata %s is empty", k)
		}
	}
	if got, want := md["consumer"], envValue(t, wc, "NATS_CONSUMER"); got != want {
		t.Errorf("scaler consumer %q, worker NATS_CONSUMER %q", got, want)
	}
	if got, want := md["stream"], envValue(t, wc, "NATS_STREAM"); got != want {
		t.Errorf("scaler stream %q, worker NATS_STREAM %q", got, want)
	}
	lag, err := strconv.Atoi(md["lagThreshold"])
	if err != nil {
		t.Fatalf("lagThreshold %q: %v", md["lagThreshold"], err)
	}
	maxAck := envInt(t, wc, "NOMNOM_MAX_ACK_PENDING")
	if want := maxAck / so.Spec.MaxReplicaCount; lag != want {
		t.Errorf("lagThreshold %d, want NOMNOM_MAX_ACK_PENDING/maxReplicaCount = %d/%d = %d", lag, maxAck, so.Spec.MaxReplicaCount, want)
	}
	if batch := envInt(t, wc, "NOMNOM_BATCH_SIZE"); lag < batch {
		t.Errorf("lagThreshold %d below one batch (%d)", lag, batch)
	}
	if lag*so.Spec.MaxReplicaCount > maxAck {
		t.Errorf("at max replicas the lag threshold (%d×%d) exceeds the in-flight window %d", lag, so.Spec.MaxReplicaCount, maxAck)
	}
	if so.Spec.MinReplicaCount < 1 || so.Spec.MinReplicaCount > so.Spec.MaxReplicaCount {
		t.Errorf("replica bounds %d..%d", so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
	}
	if !strings.HasSuffix(md["natsServerMonitoringEndpoint"], ":8222") {
		t.Errorf("monitoring endpoint %q is not the monitoring port", md["natsServerMonitoringEndpoint"])
	}
}

func namedPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

func seconds(t *testing.T, c corev1.Container, name string) int64 {
	t.Helper()
	d, err := time.ParseDuration(envValue(t, c, name))
	if err != nil {
		t.Fatalf("container %s: %s: %v", c.Name, name, err)
	}
	return int64(d / time.Second)
}

// checkGateway: readiness on /readyz, liveness on /livez (which does not
// fail with NATS), preStop sleep, and a grace period longer than sleep + drain.
func checkGateway(t *testing.T, m *manifest, d *appsv1.Deployment) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	port := namedPort(t, c, "http")
	if got := envValue(t, c, "PORT"); got != strconv.Itoa(int(port)) {
		t.Errorf("PORT=%s but the http port is %d", got, port)
	}
	if c.Command[0] != "/usr/local/bin/nomnom" || c.Args[0] != "gateway" {
		t.Errorf("gateway runs %v %v", c.Command, c.Args)
	}
	r := c.ReadinessProbe
	if r == nil || r.HTTPGet == nil || r.HTTPGet.Path != "/readyz" || r.HTTPGet.Port.String() != "http" {
		t.Errorf("gateway readiness probe %+v, want GET /readyz on http", r)
	}
	l := c.LivenessProbe
	switch {
	case l == nil:
		t.Error("gateway has no liveness probe")
	case l.HTTPGet != nil && (l.HTTPGet.Path == "/health" || l.HTTPGet.Path == "/readyz"):
		t.Errorf("gateway liveness on %s would restart every pod while NATS is down", l.HTTPGet.Path)
	case l.HTTPGet != nil && (l.HTTPGet.Path != "/livez" || l.HTTPGet.Port.String() != "http"):
		t.Errorf("gateway liveness probe %+v, want GET /livez on http", l.HTTPGet)
	case l.HTTPGet == nil && l.TCPSocket == nil:
		t.Errorf("gateway liveness probe %+v is neither HTTP nor TCP", l)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("gateway has no preStop sleep: %+v", c.Lifecycle)
	}
	sleep := c.Lifecycle.PreStop.Sleep.Seconds
	drain := seconds(t, c, "NOMNOM_SHUTDOWN_TIMEOUT")
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if sleep < 1 || grace == nil || *grace <= sleep+drain {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %ds + NOMNOM_SHUTDOWN_TIMEOUT %ds", grace, sleep, drain)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("gateway Deployment sets replicas %d although its HPA owns it", *d.Spec.Replicas)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().String() != "250m" || req.Memory().String() != "128Mi" || lim.Cpu().String() != "1" || lim.Memory().String() != "256Mi" {
		t.Errorf("gateway resources %v / %v", req, lim)
	}
}

func checkWorkerProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	port := namedPort(t, c, "metrics")
	if got := envValue(t, c, "METRICS_ADDR"); got != fmt.Sprintf(":%d", port) {
		t.Errorf("METRICS_ADDR=%s but the metrics port is %d", got, port)
	}
	// /readyz fails while NATS or PostgreSQL is down: readiness only.
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "metrics" {
		t.Errorf("worker readiness probe %+v, want GET /readyz on metrics", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/livez" || p.HTTPGet.Port.String() != "metrics" {
		t.Errorf("worker liveness probe %+v, want GET /livez on metrics", p)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		t.Errorf("worker args %v, want run", c.Args)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().String() != "500m" || req.Memory().String() != "256Mi" || lim.Cpu().String() != "2" || lim.Memory().String() != "512Mi" {
		t.Errorf("worker resources %v / %v", req, lim)
	}
}

// checkMigrationJob: a pre-install/pre-upgrade hook running the worker
// image's `migrate up`, after the Secret it reads has been created.
func checkMigrationJob(t *testing.T, m *manifest, job *batchv1.Job, wc corev1.Container) {
	t.Helper()
	if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
		t.Errorf("migration hook = %q", got)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != wc.Image {
		t.Errorf("migration image %s, worker image %s", c.Image, wc.Image)
	}
	if strings.Join(c.Args, " ") != "migrate up" {
		t.Errorf("migration args %v", c.Args)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("migration restartPolicy %s", job.Spec.Template.Spec.RestartPolicy)
	}
	secret := decode[corev1.Secret](t, m, "Secret", secretName)
	if secret.Annotations["helm.sh/hook"] != job.Annotations["helm.sh/hook"] {
		t.Errorf("the Secret is not created by the same hooks as the Job: %v", secret.Annotations)
	}
	sw, _ := strconv.Atoi(secret.Annotations["helm.sh/hook-weight"])
	jw, _ := strconv.Atoi(job.Annotations["helm.sh/hook-weight"])
	if sw >= jw {
		t.Errorf("Secret hook weight %d is not before the Job's %d", sw, jw)
	}
	if secret.StringData["DATABASE_URL"] != databaseURL {
		t.Errorf("chart Secret DATABASE_URL = %q", secret.StringData["DATABASE_URL"])
	}
	for _, o := range m.objects {
		if o.Kind == "Job" && !o.Hook {
			t.Errorf("Job %s is not a hook", o.Name)
		}
	}
}

// checkNoInlineSecrets: secret variables are secretKeyRef'd, and no secret
// value appears anywhere but in a Secret.
func checkNoInlineSecrets(t *testing.T, m *manifest, containers map[string]corev1.Container) {
	t.Helper()
	for who, c := range containers {
		e, ok := envOf(c, "DATABASE_URL")
		if who != "gateway" && !ok {
			t.Errorf("%s has no DATABASE_URL", who)
		}
		for _, e2 := range c.Env {
			secretish := e2.Name == "DATABASE_URL" || strings.Contains(e2.Name, "PASSWORD") || strings.Contains(e2.Name, "TOKEN")
			if secretish && (e2.Value != "" || e2.ValueFrom == nil || e2.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("%s: %s is not a secretKeyRef: %+v", who, e2.Name, e2)
			}
			if strings.Contains(e2.Value, "://") && strings.Contains(e2.Value, "@") {
				t.Errorf("%s: %s carries credentials in a URL", who, e2.Name)
			}
		}
		if ok && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != secretName {
			t.Errorf("%s: DATABASE_URL from %q, want the chart Secret", who, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	for _, o := range m.objects {
		if o.Kind == "Secret" {
			continue
		}
		for _, s := range []string{databaseURL, "db-s3cret-pw", natsPassword, natsToken, "creds-s3cret", "api-s3cret-key"} {
			if strings.Contains(string(o.Raw), s) {
				t.Errorf("%s %s contains the secret %q", o.Kind, o.Name, s)
			}
		}
	}
}

// TestCredentialsFromSecrets: NATS creds, password and API keys given as
// values land in the chart's Secret, are mounted as files or secretKeyRef'd,
// and the NATS_* / NOMNOM_API_KEYS_FILE variables point at those files.
func TestCredentialsFromSecrets(t *testing.T) {
	t.Parallel()
	m := mustRender(t, renderOpts{keda: true, set: append([]string{
		"natsAuth.creds=" + natsCreds,
		"natsAuth.user=ingest",
		"natsAuth.password=" + natsPassword,
		"natsAuth.token=" + natsToken,
		"apiKeys.keys={" + apiKeyLine + "}",
		"natsTLS.existingSecret=nats-client-tls",
		"natsTLS.clientCert=true",
	}, minimal...)})
	secret := decode[corev1.Secret](t, m, "Secret", secretName)
	for k, want := range map[string]string{"nats.creds": natsCreds, "NATS_PASSWORD": natsPassword, "NATS_TOKEN": natsToken, "api-keys": apiKeyLine + "\n"} {
		if got := secret.StringData[k]; got != want {
			t.Errorf("Secret %s = %q, want %q", k, got, want)
		}
	}
	gateway := decode[appsv1.Deployment](t, m, "Deployment", gatewayName)
	worker := decode[appsv1.Deployment](t, m, "Deployment", workerName)
	job := decode[batchv1.Job](t, m, "Job", jobName)
	pods := map[string]corev1.PodSpec{"gateway": gateway.Spec.Template.Spec, "worker": worker.Spec.Template.Spec, "migrate": job.Spec.Template.Spec}
	for who, pod := range pods {
		c := pod.Containers[0]
		files := map[string]string{"NATS_CREDS": "nats.creds", "NATS_TLS_CA": "ca.crt", "NATS_TLS_CERT": "tls.crt", "NATS_TLS_KEY": "tls.key"}
		if who == "gateway" {
			files["NOMNOM_API_KEYS_FILE"] = "api-keys"
		} else if _, ok := envOf(c, "NOMNOM_API_KEYS_FILE"); ok {
			t.Errorf("%s gets the API keys it does not need", who)
		}
		for env, key := range files {
			path := envValue(t, c, env)
			secretRef, item := mountedSecret(t, pod, c, path)
			wantSecret := map[string]string{"NATS_CREDS": secretName, "NOMNOM_API_KEYS_FILE": secretName}[env]
			if wantSecret == "" {
				wantSecret = "nats-client-tls"
			}
			if secretRef != wantSecret || item != key {
				t.Errorf("%s: %s=%s is %s/%s, want %s/%s", who, env, path, secretRef, item, wantSecret, key)
			}
		}
		if got := envValue(t, c, "NATS_USER"); got != "ingest" {
			t.Errorf("%s: NATS_USER=%q", who, got)
		}
		for _, env := range []string{"NATS_PASSWORD", "NATS_TOKEN"} {
			e, _ := envOf(c, env)
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secretName || e.ValueFrom.SecretKeyRef.Key != env {
				t.Errorf("%s: %s = %+v, want secretKeyRef %s/%s", who, env, e, secretName, env)
			}
		}
	}
	checkNoInlineSecrets(t, m, map[string]corev1.Container{
		"gateway": gateway.Spec.Template.Spec.Containers[0], "worker": worker.Spec.Template.Spec.Containers[0], "migrate": job.Spec.Template.Spec.Containers[0],
	})
	if gateway.Spec.Template.Annotations["checksum/secrets"] == "" {
		t.Error("gateway pods do not roll when the Secret changes")
	}
}

// mountedSecret resolves a file path in container c to the Secret and key it
// comes from.
func mountedSecret(t *testing.T, pod corev1.PodSpec, c corev1.Container, path string) (secret, key string) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(path, vm.MountPath+"/") {
			continue
		}
		file := strings.TrimPrefix(path, vm.MountPath+"/")
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, file
			}
			for _, it := range v.Secret.Items {
				if it.Path == file {
					return v.Secret.SecretName, it.Key
				}
			}
		}
	}
	t.Errorf("container %s: %s is on no mounted Secret", c.Name, path)
	return "", ""
}

// TestExistingSecrets: with existingSecret names the chart creates no Secret
// and refers to the user's keys.
func TestExistingSecrets(t *testing.T) {
	t.Parallel()
	m := mustRender(t, renderOpts{set: []string{
		"database.existingSecret=pg", "database.existingSecretKey=uri",
		"natsAuth.existingSecret=nats-user", "natsAuth.existingSecretHas.creds=true", "natsAuth.credsKey=user.creds",
		"apiKeys.existingSecret=keys",
	}})
	if s := m.ofKind("Secret"); len(s) != 0 {
		t.Errorf("chart rendered Secrets %v although every secret exists", m.names())
	}
	worker := decode[appsv1.Deployment](t, m, "Deployment", workerName)
	pod := worker.Spec.Template.Spec
	c := pod.Containers[0]
	e, _ := envOf(c, "DATABASE_URL")
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "pg" || e.ValueFrom.SecretKeyRef.Key != "uri" {
		t.Errorf("DATABASE_URL = %+v, want secretKeyRef pg/uri", e)
	}
	if s, k := mountedSecret(t, pod, c, envValue(t, c, "NATS_CREDS")); s != "nats-user" || k != "user.creds" {
		t.Errorf("NATS_CREDS from %s/%s", s, k)
	}
	gateway := decode[appsv1.Deployment](t, m, "Deployment", gatewayName)
	gp := gateway.Spec.Template.Spec
	if s, k := mountedSecret(t, gp, gp.Containers[0], envValue(t, gp.Containers[0], "NOMNOM_API_KEYS_FILE")); s != "keys" || k != "api-keys" {
		t.Errorf("NOMNOM_API_KEYS_FILE from %s/%s", s, k)
	}
}

// TestLagThresholdFormula: lagThreshold follows maxAckPending/maxReplicaCount
// for other settings too, an explicit value wins, and a share below one batch
// is refused.
func TestLagThresholdFormula(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     []string
		want    string
		wantErr string
	}{
		{"defaults", nil, "100", ""},
		{"bigger window", []string{"worker.maxAckPending=4000", "worker.keda.maxReplicaCount=20"}, "200", ""},
		{"rounds down", []string{"worker.maxAckPending=1000", "worker.keda.maxReplicaCount=3"}, "333", ""},
		{"explicit", []string{"worker.keda.lagThreshold=250"}, "250", ""},
		{"share below a batch", []string{"worker.keda.maxReplicaCount=20"}, "", "is below worker.batchSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := render(t, renderOpts{keda: true, set: append(tt.set, minimal...)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, _ := m.find("ScaledObject", workerName)
			var so scaledObject
			if err := yaml.Unmarshal(o.Raw, &so); err != nil {
				t.Fatal(err)
			}
			if got := so.Spec.Triggers[0].Metadata["lagThreshold"]; got != tt.want {
				t.Errorf("lagThreshold %s, want %s", got, tt.want)
			}
		})
	}
}

// TestRefusedValues: settings that would deploy a broken release fail at
// render time with a message naming the value.
func TestRefusedValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"no database", nil, "database.url or database.existingSecret is required"},
		{"grace shorter than drain", append([]string{"gateway.terminationGracePeriodSeconds=20"}, minimal...), "must exceed preStopSleepSeconds + shutdownTimeoutSeconds"},
		{"user without password", append([]string{"natsAuth.user=u"}, minimal...), "natsAuth.user needs natsAuth.password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, renderOpts{set: tt.set})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestPreStopOnOlderClusters: before Kubernetes 1.30 there is no sleep
// action, so the hook execs sleep in the container.
func TestPreStopOnOlderClusters(t *testing.T) {
	t.Parallel()
	m := mustRender(t, renderOpts{set: minimal, kube: &chartutil.KubeVersion{Version: "v1.28.0", Major: "1", Minor: "28"}})
	d := decode[appsv1.Deployment](t, m, "Deployment", gatewayName)
	ps := d.Spec.Template.Spec.Containers[0].Lifecycle.PreStop
	if ps.Sleep != nil || ps.Exec == nil || strings.Join(ps.Exec.Command, " ") != "sleep 5" {
		t.Errorf("preStop on 1.28 = %+v", ps)
	}
}

// TestLint is `helm lint` with the default and the cluster values: no errors.
func TestLint(t *testing.T) {
	t.Parallel()
	for _, files := range [][]string{nil, {clusterFile}} {
		vals := renderValues(t, renderOpts{files: files, set: minimal})
		lint := action.NewLint()
		lint.Namespace = namespace
		lint.KubeVersion = kube131
		res := lint.Run([]string{chartDir}, vals)
		for _, err := range res.Errors {
			t.Errorf("lint %v: %v", files, err)
		}
		for _, msg := range res.Messages {
			if msg.Severity >= support.ErrorSev {
				t.Errorf("lint %v: %s", files, msg)
			} else {
				t.Logf("lint %v: %s", files, msg)
			}
		}
		if res.TotalChartsLinted != 1 {
			t.Errorf("linted %d charts", res.TotalChartsLinted)
		}
	}
}

// TestNATSDependency: the nomnom chart declares no dependency, so that it
// renders and installs from a clean checkout without fetching anything; the
// official NATS chart comes with the nomnom-nats chart, whose values point
// every process and the scaler at that release's NATS services (whose names
// follow the NATS chart's fullname rule).
func TestNATSDependency(t *testing.T) {
	t.Parallel()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		t.Fatalf("Chart.yaml declares dependencies %v: the chart would not render without fetching them", deps)
	}
	if on, _ := ch.Values["nats"].(map[string]any)["sameRelease"].(bool); on {
		t.Error("nats.sameRelease defaults to true; bring-your-own NATS must be the default")
	}

	umbrella, err := chartutil.LoadChartfile(umbrellaDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"nomnom": "file://../nomnom", "nats": "https://nats-io.github.io/k8s/helm/charts/"}
	for _, d := range umbrella.Dependencies {
		if want[d.Name] != d.Repository {
			t.Errorf("%s: dependency %s from %q, want %q", umbrellaDir, d.Name, d.Repository, want[d.Name])
		}
		if d.Name == "nomnom" && d.Version != ch.Metadata.Version {
			t.Errorf("%s: depends on nomnom %s, the chart is %s", umbrellaDir, d.Version, ch.Metadata.Version)
		}
		delete(want, d.Name)
	}
	if len(want) > 0 {
		t.Errorf("%s: missing dependencies %v", umbrellaDir, want)
	}
	uv, err := chartutil.ReadValuesFile(umbrellaDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := uv.Table("nomnom")
	if err != nil {
		t.Fatalf("%s/values.yaml: no nomnom values: %v", umbrellaDir, err)
	}

	// The nomnom chart as the umbrella renders it: its values under nomnom:.
	tests := []struct {
		release, wantURL, wantMon string
	}{
		{releaseName, "nats://prod-nats.ingest.svc.cluster.local:4222", "prod-nats-headless.ingest.svc.cluster.local:8222"},
		{"nats", "nats://nats.ingest.svc.cluster.local:4222", "nats-headless.ingest.svc.cluster.local:8222"},
	}
	for _, tt := range tests {
		vals := chartutil.CoalesceTables(renderValues(t, renderOpts{set: minimal}), sub.AsMap())
		inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
		inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
		inst.ReleaseName, inst.Namespace, inst.KubeVersion = tt.release, namespace, kube131
		inst.APIVersions = chartutil.VersionSet{kedaAPI}
		rel, err := inst.Run(ch, vals)
		if err != nil {
			t.Fatalf("release %s: %v", tt.release, err)
		}
		if !strings.Contains(rel.Manifest, `value: "`+tt.wantURL+`"`) {
			t.Errorf("release %s: NATS_URL is not %s", tt.release, tt.wantURL)
		}
		if !strings.Contains(rel.Manifest, `natsServerMonitoringEndpoint: "`+tt.wantMon+`"`) {
			t.Errorf("release %s: monitoring endpoint is not %s", tt.release, tt.wantMon)
		}
	}
}
