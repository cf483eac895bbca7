package e2e

import (
	"net"
	"strings"
	"testing"
)

// TestDomainDNSPortsOfRunningServer: with a server running, `domain dns`
// names the ports its listeners really got (here random ones), and the
// RFC 6186 "not available" record for the listeners that are off.
func TestDomainDNSPortsOfRunningServer(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	p := startServe(t, bin, dir, "--imaps", "127.0.0.1:0")
	if code, _, errs := cli(t, dir, "", "domain", "add", "a.test"); code != 0 {
		t.Fatalf("domain add: %s", errs)
	}
	code, out, errs := cli(t, dir, "", "domain", "dns", "a.test")
	if code != 0 {
		t.Fatalf("domain dns: %s", errs)
	}
	port := func(svc string) string {
		_, pt, err := net.SplitHostPort(p.addr(svc))
		if err != nil {
			t.Fatalf("no %s listener: %v", svc, err)
		}
		return pt
	}
	for _, w := range []string{
		"IN SRV   0 1 " + port("submission") + " localhost.",
		"IN SRV   0 1 " + port("submissions") + " localhost.",
		"IN SRV   0 1 " + port("imaps") + " localhost.",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "_imap._tcp.") && !strings.HasSuffix(line, "IN SRV   0 0 0 .") {
			t.Errorf("IMAP is off but: %s", line)
		}
		if strings.HasPrefix(line, "_autodiscover._tcp.") {
			t.Errorf("HTTPS is off but: %s", line)
		}
		for _, std := range []string{" 587 ", " 465 ", " 993 ", " 143 "} {
			if strings.Contains(line, "IN SRV") && strings.Contains(line, std) {
				t.Errorf("standard port named though not served: %s", line)
			}
		}
	}
}
