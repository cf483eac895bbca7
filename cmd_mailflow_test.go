package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs one admin command in-process on dir and returns its output.
func runCLI(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append(args, "--data", dir), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestMailflowCommands(t *testing.T) {
	dir := t.TempDir()
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errs, code := runCLI(t, dir, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		return out
	}
	fail := func(want string, args ...string) {
		t.Helper()
		_, errs, code := runCLI(t, dir, "", args...)
		if code == 0 || !strings.Contains(errs, want) {
			t.Errorf("%v: exit %d, stderr %q, want failure with %q", args, code, errs, want)
		}
	}
	ok("", "domain", "add", "a.test")
	ok("password-123\n", "user", "add", "alice@a.test")
	out := ok("", "alias", "add", "sales@a.test", "alice@a.test", "ext@other.test", "--send-as", "alice@a.test")
	if !strings.Contains(out, "alice@a.test may send as sales@a.test") {
		t.Errorf("alias add: %q", out)
	}
	if out := ok("", "alias", "list", "a.test"); !strings.Contains(out, "sales@a.test") || !strings.Contains(out, "ext@other.test") {
		t.Errorf("alias list: %q", out)
	}
	fail("no such domain", "alias", "list", "nope.test")
	fail("no such domain", "alias", "add", "x@nope.test", "alice@a.test")
	fail("invalid email address", "alias", "add", "sales@a.test", "not-an-address")
	ok("", "alias", "remove", "sales@a.test")
	fail("not found", "alias", "remove", "sales@a.test")

	ok("", "domain", "catchall", "a.test", "alice@a.test")
	ok("", "domain", "catchall", "a.test", "off")
	fail("not found", "domain", "catchall", "a.test", "ghost@a.test")
	if out := ok("", "user", "forward", "alice@a.test", "me@other.test", "--keep"); !strings.Contains(out, "copy kept") {
		t.Errorf("forward: %q", out)
	}
	ok("", "user", "forward", "alice@a.test", "off")
	fail("itself", "user", "forward", "alice@a.test", "alice@a.test")
	ok("Back on Monday.\n", "user", "vacation", "alice@a.test", "on")
	fail("stdin", "user", "vacation", "alice@a.test", "on")
	ok("", "user", "vacation", "alice@a.test", "off")

	if out := ok("", "domain", "dns", "a.test"); !strings.Contains(out, "_dmarc.a.test.") || !strings.Contains(out, "k=ed25519") ||
		!strings.Contains(out, "_submissions._tcp.a.test.") || !strings.Contains(out, "v=spf1 mx -all") {
		t.Errorf("domain dns: %q", out)
	}
	if out := ok("", "domain", "dkim-rotate", "a.test"); strings.Count(out, "old, still published") != 2 {
		t.Errorf("dkim-rotate: %q", out)
	}
	if out := ok("", "queue", "list"); !strings.HasPrefix(out, "ID") {
		t.Errorf("queue list: %q", out)
	}
	fail("invalid queue id", "queue", "show", "zz")
	fail("not found", "queue", "show", "00000000000000ff")
	fail("not found", "queue", "retry", "00000000000000ff")
	ok("", "queue", "retry", "all")
	fail("not found", "queue", "delete", "00000000000000ff")
	if out := ok("", "queue", "captured", "--clear"); !strings.Contains(out, "removed 0") {
		t.Errorf("captured --clear: %q", out)
	}
	fail("unknown flag", "queue", "list", "--keep")
}
