package testsvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FloorNATSBinary is the oldest nats-server nomnom supports, Debian's
// 2.9.10, which filters one subject per consumer;
// NOMNOM_TEST_NATS_SERVER names another binary.
const FloorNATSBinary = "/usr/sbin/nats-server"

// FloorNATS starts the floor server (FloorNATSBinary) as a process of its
// own, on a free port with a store of its own, and returns its client URL;
// it is stopped when the test ends. The test is skipped where the binary is
// not installed.
func FloorNATS(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("NOMNOM_TEST_NATS_SERVER")
	if bin == "" {
		bin = FloorNATSBinary
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no nats-server binary: %v", err)
	}
	return NATSProcess(t, bin)
}

// NATSProcess starts the nats-server binary bin with JetStream on a free
// loopback port and a store directory of its own, waits until JetStream
// answers and returns the client URL. A port taken between choosing and
// binding it is retried on another.
func NATSProcess(t testing.TB, bin string) string {
	t.Helper()
	var err error
	for range 3 {
		var url string
		if url, err = startProcess(t, bin); err == nil {
			return url
		}
	}
	t.Fatalf("nats-server %s: %v", bin, err)
	return ""
}

// startProcess makes one attempt of NATSProcess.
func startProcess(t testing.TB, bin string) (string, error) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "nats-server.log")
	log, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer log.Close()
	port := FreePort(t)
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(dir, "store"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if err := waitJetStream(url, exited); err != nil {
		stopProcess(cmd, exited)
		out, _ := os.ReadFile(logPath)
		return "", fmt.Errorf("%w; its log:\n%s", err, out)
	}
	t.Cleanup(func() { stopProcess(cmd, exited) })
	return url, nil
}

// waitJetStream polls url until its JetStream answers, the process exits
// or 30 seconds pass.
func waitJetStream(url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		default:
		}
		err := jetStreamAnswers(url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 30s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jetStreamAnswers connects to url and asks for the account's JetStream
// information.
func jetStreamAnswers(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// stopProcess asks the server to stop and kills it when it has not within
// ten seconds.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = cmd.Process.Kill()
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}
