package cli

import (
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"0": 0, "1048576": 1 << 20, "500M": 500 << 20, "2G": 2 << 30, "2g": 2 << 30, "10KiB": 10 << 10, "1T": 1 << 40, "7MB": 7 << 20}
	for in, want := range good {
		if got, err := store.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "5X", "M", "1.5G", "99999999999T"} {
		if got, err := store.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
	if humanSize(0) != "unlimited" || humanSize(2<<30) != "2G" || humanBytes(0) != "0 bytes" {
		t.Errorf("humanSize: %s %s %s", humanSize(0), humanSize(2<<30), humanBytes(0))
	}
}

func TestUserQuotaCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	do := func(stdin string, args ...string) int {
		out.Reset()
		errb.Reset()
		return Main(append(args, "--data", dir), strings.NewReader(stdin), &out, &errb)
	}
	if do("", "domain", "add", "quota.test") != 0 || do("Usr-pass-k9W!q\n", "user", "add", "a@quota.test") != 0 {
		t.Fatalf("setup: %s", errb.String())
	}
	if rc := do("", "user", "quota", "a@quota.test", "500M"); rc != 0 || !strings.Contains(out.String(), "500M") {
		t.Fatalf("quota 500M: rc %d out %q err %q", rc, out.String(), errb.String())
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := st.GetUser("a@quota.test")
	st.Close()
	if u.Quota != 500<<20 {
		t.Fatalf("stored quota %d", u.Quota)
	}
	if rc := do("", "user", "quota", "a@quota.test", "lots"); rc == 0 || !strings.Contains(errb.String(), "500M or 2G") {
		t.Fatalf("bad size accepted: rc %d err %q", rc, errb.String())
	}
	if rc := do("", "user", "quota", "nobody@quota.test", "1G"); rc == 0 {
		t.Fatal("quota for a missing user accepted")
	}
}
