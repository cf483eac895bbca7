package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Issue 10 item 17: every CLI error is one clear line on stderr with a
// non-zero exit; help that was asked for goes to stdout.

// TestCLIErrorsOneLine: bad flags, unknown commands and a backup into a
// missing directory say what is wrong in one line, without a flag dump
// or the name of a temporary file.
func TestCLIErrorsOneLine(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	missing := filepath.Join(data, "no-such-dir")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"domain", "add", "-bad-.com"}, 2, "unknown flag -bad-.com"},
		{[]string{"domain", "add", "--data"}, 2, "needs a value"},
		{[]string{"domain", "add", "--", "-bad-.com"}, 1, "invalid domain"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"domain", "frob"}, 2, "authsmtp domain lists its commands"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag -bogus"},
		{[]string{"backup", filepath.Join(missing, "b.db")}, 1, "the directory " + missing + " does not exist"},
	} {
		out, errs, code := opsCLI(t, bin, data, "", c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, errs)
		}
		if out != "" {
			t.Errorf("%v: printed on stdout: %q", c.args, out)
		}
		if strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
			t.Errorf("%v: stderr is not one line: %q", c.args, errs)
		}
		if !strings.Contains(errs, c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, errs, c.want)
		}
		for _, bad := range []string{"Usage of", ".tmp-", "-acme-ca"} {
			if strings.Contains(errs, bad) {
				t.Errorf("%v: stderr shows %q: %q", c.args, bad, errs)
			}
		}
	}
}

// TestCLIHelpOnStdout: help, --help, -h, serve -h, a noun alone and
// COMMAND --help print on stdout and exit 0, so `authsmtp help | less`
// works.
func TestCLIHelpOnStdout(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	for _, c := range []struct {
		args     []string
		want     []string
		unwanted string
	}{
		{[]string{"help"}, []string{"authsmtp domain add", "authsmtp queue list", "authsmtp serve"}, ""},
		{[]string{"--help"}, []string{"authsmtp domain add", "authsmtp backup"}, ""},
		{[]string{"-h"}, []string{"authsmtp user add"}, ""},
		{[]string{"serve", "-h"}, []string{"usage: authsmtp serve", "-submission", "-acme-ca"}, ""},
		{[]string{"domain"}, []string{"authsmtp domain add DOMAIN", "authsmtp domain list", "authsmtp domain dns"}, "user add"},
		{[]string{"domain", "add", "--help"}, []string{"usage: authsmtp domain add DOMAIN"}, "domain list"},
		{[]string{"help", "queue"}, []string{"authsmtp queue show ID"}, "domain add"},
	} {
		out, errs, code := opsCLI(t, bin, data, "", c.args...)
		if code != 0 || errs != "" {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errs)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", c.args, w, out)
			}
		}
		if c.unwanted != "" && strings.Contains(out, c.unwanted) {
			t.Errorf("%v: stdout shows %q:\n%s", c.args, c.unwanted, out)
		}
	}
}

// TestCLIPluralAndHealthcheck: "1 domain" (not "1 domains") in the
// backup summary, and healthcheck says what answered instead of "ok: ok".
func TestCLIPluralAndHealthcheck(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	p := startServe(t, bin, data, "--https", "127.0.0.1:0")
	opsMustCLI(t, bin, data, "", "domain", "add", "one.test")
	bk := filepath.Join(t.TempDir(), "b.db")
	if out := opsMustCLI(t, bin, data, "", "backup", bk); !strings.Contains(out, "(") || !strings.Contains(out, " 1 domain, 0 users, 0 messages, 0 queued)") {
		t.Errorf("backup summary: %q", out)
	}
	out := opsMustCLI(t, bin, data, "", "healthcheck", "--https", p.addr("https"))
	if strings.Contains(out, "ok: ok") || !strings.Contains(out, "/healthz") || strings.Count(out, "\n") != 1 {
		t.Errorf("healthcheck: %q", out)
	}
	p.stop(t)
	if out := opsMustCLI(t, bin, data, "", "restore", bk); !strings.Contains(out, ": 1 domain, 0 users, 0 messages, 0 queued") {
		t.Errorf("restore summary: %q", out)
	}
}
