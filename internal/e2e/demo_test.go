package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 10 item 14: --demo never takes over a real setup, and prints the
// same passwords on every start.

// TestDemoRefusesRealSetup: --demo on a data directory with a domain of
// its own exits 1 with one clear line and changes nothing.
func TestDemoRefusesRealSetup(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	opsMustCLI(t, bin, data, "", "domain", "add", "shop.example")
	before := opsMustCLI(t, bin, data, "", "domain", "list")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--demo", "--data", data, "--hostname", "localhost",
		"--submission", "127.0.0.1:0", "--submissions", "", "--mx", "", "--imap", "", "--imaps", "", "--https", "", "--http", "", "--metrics", "")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("serve --demo on a real setup: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "real setup (domain shop.example)") || !strings.Contains(string(out), "--data") {
		t.Errorf("the refusal does not say why and what to do:\n%s", out)
	}
	if after := opsMustCLI(t, bin, data, "", "domain", "list"); after != before || strings.Contains(after, "demo.test") {
		t.Errorf("the refused demo changed the domains:\n%s\n---\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(data, "demo-logins.json")); err == nil {
		t.Error("the refused demo left its logins file")
	}
}

var demoLoginRe = regexp.MustCompile(`(?m)^\s+(domain|user|admin) login\s+\S+\s+password (\S+)`)

// demoPasswords waits for the demo's printed logins.
func demoPasswords(t *testing.T, p *proc) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, m := range demoLoginRe.FindAllStringSubmatch(p.stdout(), -1) {
			got[m[1]] = m[2]
		}
		if len(got) == 3 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no logins:\n%s", p.stdout())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDemoPasswordsStable: a restarted demo prints the same passwords, and
// they work.
func TestDemoPasswordsStable(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	p := startServe(t, bin, data, "--demo")
	first := demoPasswords(t, p)
	p.stop(t)

	p2 := startServe(t, bin, data, "--demo")
	second := demoPasswords(t, p2)
	for k, v := range first {
		if second[k] != v {
			t.Errorf("%s password changed across a restart: %q, then %q", k, v, second[k])
		}
	}
	msg := "From: alice@demo.test\r\nTo: alice@demo.test\r\nSubject: demo\r\n\r\nhello\r\n"
	if err := submit(p2.addr("submission"), "alice@demo.test", second["user"], "alice@demo.test", []string{"alice@demo.test"}, msg); err != nil {
		t.Errorf("the printed user password does not log in: %v", err)
	}
}
