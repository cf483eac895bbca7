package e2e

import (
	"os/exec"
	"strings"
	"testing"

	authcli "github.com/authsmtp/authsmtp/internal/cli"
)

// cliCase is one admin command and what it must do.
type cliCase struct {
	stdin string
	args  []string
	code  int
	out   string // expected in stdout (code 0) or stderr (code != 0)
}

// accountScript exercises every account command and its errors. Failing
// commands must exit 1 with exactly one line and change nothing, which the
// listings in between check.
var accountScript = []cliCase{
	{"", []string{"domain", "add", "doe.com"}, 0, "added domain doe.com"},
	{"", []string{"domain", "add", "DOE.com"}, 1, "already exists"},
	{"", []string{"domain", "add", "not a domain"}, 1, "invalid domain"},
	{"", []string{"domain", "add", "doe.com."}, 1, "invalid domain"},
	{"", []string{"domain", "add", "bücher.example"}, 0, "added domain xn--bcher-kva.example"},
	{"", []string{"domain", "add", "www.Shop.Test"}, 0, "added domain shop.test"},
	{"", []string{"domain", "add", "shop.test"}, 1, "already exists"},
	{"", []string{"domain", "add", "1.2.3.4"}, 1, "IP address"},
	{"", []string{"domain", "enable", "www.shop.test", "smtp"}, 0, "shop.test: smtp is on"},
	{"x\n", []string{"domain", "password", "www.shop.test"}, 1, "at least 12 characters"},
	{"Kq7#vZ2!mW\n", []string{"domain", "password", "shop.test"}, 1, "at least 12 characters"},
	{"Usr-pass-k9W!q\n", []string{"user", "add", "u@www.shop.test"}, 1, "no such domain"},
	{"", []string{"domain", "remove", "WWW.shop.test"}, 0, "removed domain shop.test"},
	{"", []string{"domain", "remove", "www.xn--bcher-kva.example"}, 0, "removed domain xn--bcher-kva.example"},
	{"", []string{"domain", "add", "bücher.example"}, 0, "added domain xn--bcher-kva.example"},
	{"", []string{"domain", "list"}, 0, "doe.com"},
	{"", []string{"domain", "enable", "doe.com", "smtp"}, 0, "smtp is on"},
	{"", []string{"domain", "enable", "doe.com", "ftp"}, 1, "unknown switch"},
	{"", []string{"domain", "enable", "nowhere.test", "smtp"}, 1, "no such domain"},
	{"", []string{"domain", "disable", "doe.com", "webmail"}, 0, "webmail is off"},
	{"Dom-pass-x7Q!z\n", []string{"domain", "password", "www.doe.com"}, 0, "password set for domain login doe.com"},
	{"\n", []string{"domain", "password", "doe.com"}, 1, "empty"},
	{"Usr-pass-k9W!q\n", []string{"domain", "password", "nowhere.test"}, 1, "no such domain"},
	{"Usr-pass-k9W!q\n", []string{"user", "add", "john@doe.com"}, 0, "added user john@doe.com"},
	{"Usr-pass-k9W!q\n", []string{"user", "add", "John@DOE.com"}, 1, "already exists"},
	{"Usr-pass-k9W!q\n", []string{"user", "add", "x@nowhere.test"}, 1, "no such domain"},
	{"", []string{"user", "add", "jane@doe.com"}, 1, "empty"},
	{"Usr-pass-k9W!q\n", []string{"user", "add", "not-an-address"}, 1, "invalid email address"},
	{"short\n", []string{"user", "password", "john@doe.com"}, 1, "at least 10 characters"},
	{"john@doe.com-x1\n", []string{"user", "password", "john@doe.com"}, 1, "too easy to guess"},
	{"short\n", []string{"user", "add", "jane@doe.com"}, 1, "at least 10 characters"},
	{"x\n", []string{"admin", "password"}, 1, "at least 10 characters"},
	{"New-pass-r5T!m\n", []string{"user", "password", "john@doe.com"}, 0, "password changed"},
	{"Usr-pass-k9W!q\n", []string{"user", "password", "ghost@doe.com"}, 1, "not found"},
	{"", []string{"user", "list"}, 0, "john@doe.com"},
	{"", []string{"user", "list", "doe.com"}, 0, "john@doe.com"},
	{"", []string{"user", "list", "nowhere.test"}, 1, "no such domain"},
	{"", []string{"domain", "limit", "doe.com", "per-hour=50"}, 0, "per-hour=50"},
	{"", []string{"domain", "limit", "doe.com", "per-hour=lots"}, 1, "bad limit"},
	{"", []string{"user", "limit", "john@doe.com", "per-day=7", "rcpts-per-day=9"}, 0, "per-day=7 rcpts-per-day=9"},
	{"", []string{"user", "limit", "john@doe.com", "speed=9"}, 1, "unknown limit"},
	{"", []string{"domain", "mta-sts", "doe.com", "enforce"}, 0, "doe.com: MTA-STS mode enforce"},
	{"", []string{"domain", "mta-sts", "doe.com", "sure"}, 1, "want none, testing or enforce"},
	{"", []string{"domain", "mta-sts", "nowhere.test", "none"}, 1, "no such domain"},
	{"", []string{"domain", "remove", "doe.com"}, 1, "still has users"},
	{"Adm-pass-w2E!r\n", []string{"admin", "password"}, 0, "admin password set"},
	{"", []string{"admin", "password"}, 1, "empty"},
	{"", []string{"user", "remove", "john@doe.com"}, 0, "removed user john@doe.com"},
	{"", []string{"user", "remove", "john@doe.com"}, 1, "not found"},
	{"", []string{"domain", "remove", "doe.com"}, 0, "removed domain doe.com"},
	{"", []string{"domain", "remove", "doe.com"}, 1, "no such domain"},
}

// runScript runs the script, checking codes, output and that each failure
// is one line and leaves the listings as they were.
func runScript(t *testing.T, dir string) {
	t.Helper()
	snapshot := func() string {
		_, d, _ := cli(t, dir, "", "domain", "list")
		_, u, _ := cli(t, dir, "", "user", "list")
		return d + u
	}
	for _, c := range accountScript {
		before := snapshot()
		code, out, errs := cli(t, dir, c.stdin, c.args...)
		if code != c.code {
			t.Fatalf("%v: exit %d, want %d (out %q, err %q)", c.args, code, c.code, out, errs)
		}
		where := out
		if c.code != 0 {
			where = errs
			if strings.Count(strings.TrimSuffix(errs, "\n"), "\n") != 0 || out != "" {
				t.Fatalf("%v: error is not one line: out %q err %q", c.args, out, errs)
			}
			if after := snapshot(); after != before {
				t.Fatalf("%v failed but changed the store:\n%s\n---\n%s", c.args, before, after)
			}
		}
		if !strings.Contains(where, c.out) {
			t.Fatalf("%v: output %q lacks %q", c.args, where, c.out)
		}
	}
}

// TestCLIWithoutServer: every command, opening the database directly.
func TestCLIWithoutServer(t *testing.T) {
	runScript(t, t.TempDir())
}

// TestCLIWithServer: the same script while serve runs on the directory
// (the file is locked, so every command must go through the control
// socket), and a change is live at once for SMTP logins.
func TestCLIWithServer(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	p := startServe(t, bin, dir)
	runScript(t, dir)

	setupDoe(t, dir)
	sub := p.addr("submission")
	msg := "From: john@doe.com\r\nSubject: live\r\n\r\nx\r\n"
	if err := submit(sub, "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"}, msg); err != nil {
		t.Fatalf("user added through the socket cannot send: %v", err)
	}
	if code, _, errs := cli(t, dir, "Chg-pass-b8N!v\n", "user", "password", "john@doe.com"); code != 0 {
		t.Fatal(errs)
	}
	if err := submit(sub, "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"}, msg); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("old password still works after change: %v", err)
	}
	if code, _, errs := cli(t, dir, "", "domain", "disable", "doe.com", "smtp"); code != 0 {
		t.Fatal(errs)
	}
	if err := submit(sub, "john@doe.com", "Chg-pass-b8N!v", "john@doe.com", []string{"john@doe.com"}, msg); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("switch off not live: %v", err)
	}

	// The real binary: exit status 1 and one line on stderr, through the socket.
	cmd := exec.Command(bin, "user", "add", "x@nowhere.test", "--data", dir)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader("Usr-pass-k9W!q\n")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "no such domain") {
		t.Fatalf("binary error: %v %q", err, out)
	}
	p.stop(t)

	// After a clean stop the commands open the file directly again.
	if code, out, errs := cli(t, dir, "", "user", "list"); code != 0 || !strings.Contains(out, "john@doe.com") {
		t.Fatalf("after stop: %d %q %q", code, out, errs)
	}
}

// TestCLIUsage: unknown commands and wrong argument counts are usage
// errors (exit 2); --help is not an error.
func TestCLIUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"frobnicate"}, 2},
		{[]string{"domain", "add"}, 2},
		{[]string{"domain", "add", "a.test", "b.test"}, 2},
		{[]string{"user", "list", "a.test", "b.test"}, 2},
	} {
		if code, _, _ := cli(t, dir, "", c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
	}
	var o, e strings.Builder
	if code := authcli.Main([]string{"help"}, strings.NewReader(""), &o, &e); code != 0 || !strings.Contains(o.String(), "authsmtp domain add") || e.String() != "" {
		t.Errorf("help: %d stdout %q stderr %q", code, o.String(), e.String())
	}
}
