package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authcli "github.com/authsmtp/authsmtp/internal/cli"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// The helpers here run the real authsmtp binary, built once per test run.

// proc is a running "authsmtp serve".
type proc struct {
	cmd   *exec.Cmd
	addrs map[string]string // service → listening address
	done  chan error
	mu    sync.Mutex
	log   strings.Builder
	out   strings.Builder // stdout (the demo prints its logins there)
}

// procOut collects a proc's stdout.
type procOut struct{ p *proc }

func (w procOut) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// stdout is what the process printed on stdout so far.
func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

var listeningRe = regexp.MustCompile(`msg=listening service=(\S+) addr=(\S+)`)

// startServe runs the binary on dir with only submission listeners on
// 127.0.0.1:0 and waits until it says it is running.
func startServe(t *testing.T, bin, dir string, extra ...string) *proc {
	t.Helper()
	return startServeEnv(t, bin, dir, nil, extra...)
}

// startServeEnv is startServe with variables added to the environment.
func startServeEnv(t *testing.T, bin, dir string, env []string, extra ...string) *proc {
	t.Helper()
	args := []string{"serve", "--data", dir, "--hostname", "localhost", "--tls", "self-signed",
		"--submission", "127.0.0.1:0", "--submissions", "127.0.0.1:0",
		"--mx", "", "--imap", "", "--imaps", "", "--https", "", "--http", "", "--metrics", ""}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Env = append(cleanEnv(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addrs: map[string]string{}, done: make(chan error, 1)}
	cmd.Stdout = procOut{p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			if m := listeningRe.FindStringSubmatch(line); m != nil {
				p.addrs[m[1]] = m[2]
			}
			p.mu.Unlock()
			if !sent && strings.Contains(line, "authsmtp is running") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("serve exited before it was ready:\n%s", p.logs())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready after 60s:\n%s", p.logs())
	}
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) addr(service string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[service]
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- nil // later calls return at once
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- nil
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, p.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", p.logs())
	}
}

// cleanEnv drops AUTHSMTP_* from the environment so only flags apply.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHSMTP_") {
			env = append(env, kv)
		}
	}
	return env
}

// submit sends one message through addr (STARTTLS, AUTH PLAIN) and
// returns the final reply's error.
func submit(addr, login, pw, from string, to []string, msg string) error {
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", login, pw)); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// cli runs an admin command in-process (as the binary's main would).
func cli(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e strings.Builder
	code = authcli.Main(append(args, "--data", dir), strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}
