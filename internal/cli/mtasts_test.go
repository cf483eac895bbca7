package cli

import (
	"regexp"
	"strings"
	"testing"
)

// TestDomainMTASTSCommand: `domain mta-sts` stores the mode on the file,
// and `domain dns` prints the _mta-sts id (changing with the mode), the
// mta-sts.<domain> name and the TLSRPT record.
func TestDomainMTASTSCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	do := func(args ...string) int {
		out.Reset()
		errb.Reset()
		return Main(append(args, "--data", dir, "--hostname", "mx.sts.test"), strings.NewReader(""), &out, &errb)
	}
	if do("domain", "add", "sts.test") != 0 {
		t.Fatal(errb.String())
	}
	idRe := regexp.MustCompile(`_mta-sts\.sts\.test\.\s+3600 IN TXT\s+"v=STSv1; id=([a-z0-9]{1,32})"`)
	id := func() string {
		t.Helper()
		if do("domain", "dns", "sts.test") != 0 {
			t.Fatal(errb.String())
		}
		for _, want := range []string{"mta-sts.sts.test.", "CNAME mx.sts.test.", `_smtp._tls.sts.test.`, `"v=TLSRPTv1; rua=mailto:tls-reports@sts.test"`} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("domain dns lacks %q:\n%s", want, out.String())
			}
		}
		m := idRe.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no _mta-sts record:\n%s", out.String())
		}
		return m[1]
	}
	testing := id()
	if do("domain", "mta-sts", "sts.test", "enforce") != 0 || !strings.Contains(out.String(), "mode enforce") {
		t.Fatalf("set: %q %q", out.String(), errb.String())
	}
	setOut := out.String()
	enforce := id()
	if enforce == testing || !strings.Contains(setOut, "id="+enforce) {
		t.Fatalf("id did not follow the mode: %s -> %s (set printed %q)", testing, enforce, setOut)
	}
	if do("domain", "mta-sts", "sts.test", "testing") != 0 || id() != testing {
		t.Fatal("back to testing: not the testing id")
	}
	if do("domain", "mta-sts", "sts.test", "sure") == 0 || do("domain", "mta-sts", "nowhere.test", "none") == 0 {
		t.Fatal("bad mode or unknown domain accepted")
	}
}
