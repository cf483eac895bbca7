package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUserJunkCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	do := func(stdin string, args ...string) int {
		out.Reset()
		errb.Reset()
		return Main(append(args, "--data", dir), strings.NewReader(stdin), &out, &errb)
	}
	if do("", "domain", "add", "junk.test") != 0 || do("Usr-pass-k9W!q\n", "user", "add", "a@junk.test") != 0 {
		t.Fatalf("setup: %s", errb.String())
	}
	var mbox strings.Builder
	for i := range 3 {
		fmt.Fprintf(&mbox, "From spam@x.test Mon Jan  1 00:00:00 2024\nFrom: <spam%d@x.test>\nSubject: win %d\nMessage-ID: <%d@x.test>\n\ncheap pills now %d\n\n", i, i, i, i)
	}
	path := filepath.Join(t.TempDir(), "spam.mbox")
	os.WriteFile(path, []byte(mbox.String()), 0o600)

	if rc := do("", "user", "junk", "a@junk.test", "train", "spam", path); rc != 0 ||
		!strings.Contains(out.String(), "trained 3 messages as spam") || !strings.Contains(out.String(), "trained spam  3") {
		t.Fatalf("train: rc %d out %q err %q", rc, out.String(), errb.String())
	}
	// The same messages again count once.
	if rc := do("", "user", "junk", "a@junk.test", "train", "spam", path); rc != 0 || !strings.Contains(out.String(), "(3 were already trained so)") ||
		!strings.Contains(out.String(), "trained spam  3") {
		t.Fatalf("retrain: rc %d out %q", rc, out.String())
	}
	// As ham: moved over.
	if rc := do("", "user", "junk", "a@junk.test", "train", "ham", path); rc != 0 || !strings.Contains(out.String(), "trained spam  0") ||
		!strings.Contains(out.String(), "trained ham   3") || !strings.Contains(out.String(), "learning") {
		t.Fatalf("train ham: rc %d out %q", rc, out.String())
	}
	if rc := do("", "user", "junk", "a@junk.test"); rc != 0 || !strings.Contains(out.String(), "last trained") || strings.Contains(out.String(), "never") {
		t.Fatalf("state: rc %d out %q", rc, out.String())
	}
	if rc := do("", "user", "junk", "a@junk.test", "--reset"); rc != 0 || !strings.Contains(out.String(), "reset") || !strings.Contains(out.String(), "trained ham   0") {
		t.Fatalf("reset: rc %d out %q err %q", rc, out.String(), errb.String())
	}
	if rc := do("", "user", "junk", "a@junk.test", "train", "eggs", path); rc == 0 {
		t.Fatal("class eggs accepted")
	}
	if rc := do("", "user", "junk", "nobody@junk.test"); rc == 0 {
		t.Fatal("state of a missing user")
	}
}
