package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBook collects the output of a test's processes and hands it to t.Log
// when the test fails (or always, with NOMNOM_E2E_LOGS=1).
type logBook struct {
	mu    sync.Mutex
	lines []string
	drop  int
}

const maxLogLines = 20000

func newLogBook(t testing.TB) *logBook {
	b := &logBook{}
	t.Cleanup(func() {
		if !t.Failed() && os.Getenv("NOMNOM_E2E_LOGS") == "" {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.drop > 0 {
			t.Logf("process logs (first %d lines dropped):", b.drop)
		}
		t.Log("process logs:\n" + strings.Join(b.lines, "\n"))
	})
	return b
}

func (b *logBook) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) >= maxLogLines {
		b.lines = b.lines[1:]
		b.drop++
	}
	b.lines = append(b.lines, line)
}

// writer returns a writer whose lines go into the book prefixed by name.
func (b *logBook) writer(name string) io.WriteCloser {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			b.add(fmt.Sprintf("%s %s| %s", time.Now().Format("15:04:05.000"), name, sc.Text()))
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return w
}

// proc is one process of the system under test: started, signalled and
// waited for like an operator would.
type proc struct {
	t    testing.TB
	name string
	path string
	args []string
	env  []string
	logs *logBook

	cmd  *exec.Cmd
	out  io.WriteCloser
	done chan struct{}
	err  error // the exit error, once done is closed
}

// startProc starts path with args and env (added to a minimal environment)
// and stops it at the end of the test.
func startProc(t testing.TB, logs *logBook, name, path string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, path: path, args: args, env: env, logs: logs}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.path, p.args...)
	p.cmd.Env = append(baseEnv(), p.env...)
	p.out = p.logs.writer(p.name)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.out.Close()
		close(p.done)
	}()
}

// baseEnv is the environment every process starts from: enough to run, and
// nothing of the test runner's own NATS_* or DATABASE_URL settings.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Restart starts the process again with the same command line; the previous
// run must have exited.
func (p *proc) Restart() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("restart %s: still running", p.name)
	}
	p.logs.add("--- restart " + p.name)
	p.start()
}

// Running reports whether the process has not exited.
func (p *proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process.
func (p *proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	p.logs.add(fmt.Sprintf("--- %s %s", sig, p.name))
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// Wait waits for the process to exit and returns its exit error; it fails
// the test when the process outlives timeout.
func (p *proc) Wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s", p.name, timeout)
		return nil
	}
}

// Term sends SIGTERM and waits for the exit, which must be clean.
func (p *proc) Term() {
	p.t.Helper()
	p.Signal(syscall.SIGTERM)
	if err := p.Wait(60 * time.Second); err != nil {
		p.t.Errorf("%s after SIGTERM: %v", p.name, err)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *proc) Kill() {
	p.t.Helper()
	p.Signal(syscall.SIGKILL)
	_ = p.Wait(30 * time.Second)
}

// stop ends a process still running at the end of a test: SIGTERM, then
// SIGKILL when it does not exit in time.
func (p *proc) stop() {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.logs.add("--- " + p.name + " ignored SIGTERM; SIGKILL")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// runCmd runs a binary to completion (a CLI call such as migrate or dlq) and
// returns its stdout; stderr goes to the log book.
func runCmd(t testing.TB, logs *logBook, env []string, path string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(baseEnv(), env...)
	var stdout strings.Builder
	errw := logs.writer(fmt.Sprintf("%s %s", baseName(path), strings.Join(args, " ")))
	defer errw.Close()
	cmd.Stdout, cmd.Stderr = &stdout, errw
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stdout.String(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return stdout.String(), fmt.Errorf("%s %v: still running after 2m", path, args)
	}
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}
