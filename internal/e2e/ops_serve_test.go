package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
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

// opsServed is a running `authsmtp serve` process.
type opsServed struct {
	t     *testing.T
	cmd   *exec.Cmd
	data  string
	mu    sync.Mutex
	addrs map[string]string // service → address it listens on
	logs  bytes.Buffer
	ready chan struct{}
	exit  chan error
}

// serveListeners are every listener flag; tests turn on the ones they
// need on 127.0.0.1:0 and the rest off.
var serveListeners = []string{"SUBMISSION", "SUBMISSIONS", "MX", "IMAP", "IMAPS", "HTTPS", "HTTP", "METRICS"}

// startServe runs the binary with data dir data, the given listeners on
// 127.0.0.1:0 and JSON logs, and waits until it says it runs.
func startOpsServe(t *testing.T, bin, data string, on []string, extraEnv ...string) *opsServed {
	t.Helper()
	s := &opsServed{t: t, data: data, addrs: map[string]string{}, ready: make(chan struct{}), exit: make(chan error, 1)}
	env := append(os.Environ(), "AUTHSMTP_DATA="+data, "AUTHSMTP_LOG_FORMAT=json", "AUTHSMTP_HOSTNAME=localhost", "AUTHSMTP_TLS=self-signed")
	for _, l := range serveListeners {
		v := ""
		for _, o := range on {
			if strings.EqualFold(o, l) {
				v = "127.0.0.1:0"
			}
		}
		env = append(env, "AUTHSMTP_"+l+"="+v)
	}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(env, extraEnv...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = io.Discard
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.logs.Write(line)
			s.logs.WriteByte('\n')
			var ev map[string]any
			if json.Unmarshal(line, &ev) == nil {
				if ev["msg"] == "listening" {
					s.addrs[fmt.Sprint(ev["service"])] = fmt.Sprint(ev["addr"])
				}
				if ev["msg"] == "authsmtp is running" {
					once.Do(func() { close(s.ready) })
				}
			}
			s.mu.Unlock()
		}
	}()
	go func() { <-logDone; s.exit <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exit
		}
	})
	select {
	case <-s.ready:
	case err := <-s.exit:
		t.Fatalf("authsmtp serve exited before it was ready: %v\n%s", err, s.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("authsmtp serve not ready after 60s\n%s", s.Logs())
	}
	return s
}

// Addr is the address a service listens on.
func (s *opsServed) Addr(service string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addrs[service]
	if a == "" {
		s.t.Fatalf("service %s is not listening; logs:\n%s", service, s.logs.String())
	}
	return a
}

// Logs returns everything the server logged so far.
func (s *opsServed) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Stop sends sig and waits for the process to exit.
func (s *opsServed) Stop(sig syscall.Signal) error {
	s.t.Helper()
	s.cmd.Process.Signal(sig)
	select {
	case err := <-s.exit:
		return err
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("authsmtp serve did not stop after %v\n%s", sig, s.Logs())
		return nil
	}
}

// cli runs an admin command with the binary, as a user would.
func opsCLI(t *testing.T, bin, data, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AUTHSMTP_DATA="+data)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs a command that must succeed.
func opsMustCLI(t *testing.T, bin, data, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := opsCLI(t, bin, data, stdin, args...)
	if code != 0 {
		t.Fatalf("authsmtp %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}
