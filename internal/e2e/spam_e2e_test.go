package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-milter"

	"github.com/authsmtp/authsmtp/internal/testutil/miltertest"
)

// junkMessage is a small distinct message for training.
func junkMessage(i int, subject, text string) string {
	return fmt.Sprintf("From: <sender%d@example.net>\nTo: <john@doe.com>\nSubject: %s %d\nMessage-ID: <m%d.%s@example.net>\n\n%s %d\n",
		i, subject, i, i, strings.Fields(subject)[0], text, i)
}

// runBin runs the real binary with args (and --data dir) and returns its
// exit code and combined output.
func runBin(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--data", dir)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// junkCounts reads "trained spam N" and "trained ham N" from `user junk`.
func junkCounts(t *testing.T, bin, dir, addr string) (spam, ham string) {
	t.Helper()
	code, out := runBin(t, bin, dir, "user", "junk", addr)
	if code != 0 {
		t.Fatalf("user junk: %d %s", code, out)
	}
	get := func(kind string) string {
		m := regexp.MustCompile(`trained ` + kind + `\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s count in:\n%s", kind, out)
		}
		return m[1]
	}
	return get("spam"), get("ham")
}

// TestJunkTrainThroughServer: `authsmtp user junk ADDRESS train spam|ham
// PATH` with the server running goes through the control socket (the
// file is staged in the data directory for the server to read), from an
// mbox and from a Maildir; training the same message twice counts once,
// training it as the other kind moves it, and --reset forgets.
func TestJunkTrainThroughServer(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	p := startServe(t, bin, dir)
	setupDoe(t, dir)
	src := t.TempDir()

	// An mbox of 3 spam messages, the first one twice.
	var mbox strings.Builder
	for _, i := range []int{1, 2, 3, 1} {
		fmt.Fprintf(&mbox, "From sender%d@example.net Sat Jan  3 10:00:00 2026\n%s\n", i, junkMessage(i, "cheap pills", "buy now"))
	}
	mboxPath := filepath.Join(src, "spam.mbox")
	if err := os.WriteFile(mboxPath, []byte(mbox.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// A Maildir of 2 ham messages (one in new, one in cur).
	md := filepath.Join(src, "Ham")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(md, "new", "1700000000.1.host"), []byte(junkMessage(10, "meeting notes", "see you")), 0o600)
	os.WriteFile(filepath.Join(md, "cur", "1700000001.2.host:2,S"), []byte(junkMessage(11, "meeting notes", "see you")), 0o600)

	if s, h := junkCounts(t, bin, dir, "john@doe.com"); s != "0" || h != "0" {
		t.Fatalf("fresh filter: spam %s ham %s", s, h)
	}
	code, out := runBin(t, bin, dir, "user", "junk", "john@doe.com", "train", "spam", mboxPath)
	if code != 0 || !strings.Contains(out, "trained 4 messages as spam") || !strings.Contains(out, "1 were already trained so") {
		t.Fatalf("train spam from mbox: %d\n%s", code, out)
	}
	code, out = runBin(t, bin, dir, "user", "junk", "john@doe.com", "train", "ham", md)
	if code != 0 || !strings.Contains(out, "trained 2 messages as ham") {
		t.Fatalf("train ham from Maildir: %d\n%s", code, out)
	}
	if s, h := junkCounts(t, bin, dir, "john@doe.com"); s != "3" || h != "2" {
		t.Fatalf("after training: spam %s ham %s, want 3 and 2", s, h)
	}
	// The same Maildir again changes nothing.
	if code, out = runBin(t, bin, dir, "user", "junk", "john@doe.com", "train", "ham", md); code != 0 {
		t.Fatalf("train ham again: %d\n%s", code, out)
	}
	// The spam mbox retrained as ham: the spam training is taken back.
	if code, out = runBin(t, bin, dir, "user", "junk", "john@doe.com", "train", "ham", mboxPath); code != 0 {
		t.Fatalf("retrain as ham: %d\n%s", code, out)
	}
	if s, h := junkCounts(t, bin, dir, "john@doe.com"); s != "0" || h != "5" {
		t.Fatalf("after retraining: spam %s ham %s, want 0 and 5", s, h)
	}
	if code, out = runBin(t, bin, dir, "user", "junk", "john@doe.com", "--reset"); code != 0 || !strings.Contains(out, "reset") {
		t.Fatalf("reset: %d\n%s", code, out)
	}
	if s, h := junkCounts(t, bin, dir, "john@doe.com"); s != "0" || h != "0" {
		t.Fatalf("after reset: spam %s ham %s", s, h)
	}
	// Errors come back through the socket as one line and exit 1.
	if code, out = runBin(t, bin, dir, "user", "junk", "nobody@doe.com", "train", "spam", mboxPath); code != 1 || !strings.Contains(out, "nobody@doe.com") {
		t.Fatalf("unknown user: %d\n%s", code, out)
	}
	// Nothing staged is left in the data directory.
	if left, _ := filepath.Glob(filepath.Join(dir, ".junk-*")); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if !strings.Contains(p.logs(), "authsmtp is running") {
		t.Fatal("server log lost")
	}
}

// TestSubmissionMilterBinary: --submission-milter in the real binary
// sends submitted mail through the milter; its refusal reaches the SMTP
// client word for word.
func TestSubmissionMilterBinary(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	m := miltertest.Start(t, func(*milter.Modifier) (milter.Response, error) {
		return milter.NewResponseStr('y', "554 5.7.1 virus found: Eicar-Test-Signature"), nil
	})
	p := startServe(t, bin, dir, "--submission-milter", m.Addr, "--milter-timeout", "20s")
	setupDoe(t, dir)
	err := submit(p.addr("submission"), "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"},
		"From: john@doe.com\r\nSubject: with a virus\r\n\r\nX5O!P%@AP\r\n")
	if err == nil || !strings.Contains(err.Error(), "554") || !strings.Contains(err.Error(), "virus found: Eicar-Test-Signature") {
		t.Fatalf("want the milter's 554, got %v", err)
	}
	if got := m.Macro("{auth_authen}"); got != "john@doe.com" {
		t.Errorf("milter told {auth_authen}=%q", got)
	}
	if got := m.Macro("{daemon_name}"); got != "submission" {
		t.Errorf("milter told {daemon_name}=%q", got)
	}
}
