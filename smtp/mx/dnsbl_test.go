package mx

import (
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

func TestDNSListName(t *testing.T) {
	if got := dnsListName(net.ParseIP("192.0.2.99"), "bl.test"); got != "99.2.0.192.bl.test" {
		t.Errorf("IPv4: %s", got)
	}
	got := dnsListName(net.ParseIP("2001:db8::1"), "bl.test")
	if !strings.HasPrefix(got, "1.0.0.0.0.0.0.0.") || !strings.HasSuffix(got, ".8.b.d.0.1.0.0.2.bl.test") {
		t.Errorf("IPv6: %s", got)
	}
	if l, err := ParseDNSBL("zen.example, weak.example:junk"); err != nil || len(l) != 2 || l[0].Junk || !l[1].Junk {
		t.Errorf("ParseDNSBL: %+v %v", l, err)
	}
	for _, bad := range []string{"nodot", "a.example:score", "a b.example"} {
		if _, err := ParseDNSBL(bad); err == nil {
			t.Errorf("ParseDNSBL(%q) accepted", bad)
		}
	}
}

func TestDNSBL(t *testing.T) {
	const listed = "1.0.0.127." // the test client connects from 127.0.0.1
	msg := junkMsg("someone@sender.test", "Hello", hamText, 1)
	cases := []struct {
		name    string
		bl      string
		wl      string
		records map[string]string // name → A
		hang    string
		code    int    // 0: accepted
		box     string // where alice finds it
		status  string
	}{
		{name: "hit refuses", bl: "bl.test", records: map[string]string{listed + "bl.test": "127.0.0.2"}, code: 554},
		{name: "miss", bl: "bl.test", box: "INBOX"},
		{name: "query refused code is no listing", bl: "bl.test", records: map[string]string{listed + "bl.test": "127.255.255.254"}, box: "INBOX"},
		{name: "timeout is a miss", bl: "slow.test,bl.test", hang: listed + "slow.test", box: "INBOX"},
		{name: "second list hits", bl: "other.test,bl.test", records: map[string]string{listed + "bl.test": "127.0.0.4"}, code: 554},
		{name: "junk mode", bl: "bl.test:junk", records: map[string]string{listed + "bl.test": "127.0.0.2"}, box: "Junk", status: "dnsbl=bl.test"},
		{name: "allowlist wins", bl: "bl.test", wl: "wl.test",
			records: map[string]string{listed + "bl.test": "127.0.0.2", listed + "wl.test": "127.0.10.1"}, box: "INBOX"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bl, err := ParseDNSBL(c.bl)
			if err != nil {
				t.Fatal(err)
			}
			wl, _ := ParseDNSWL(c.wl)
			e := newMX(t, func(cfg *Config) { cfg.DNSBL, cfg.DNSWL, cfg.DNSListTimeout = bl, wl, 300*time.Millisecond })
			for n, a := range c.records {
				e.dns.Add(t, n+". 60 IN A "+a)
			}
			if c.hang != "" {
				e.dns.Hang(c.hang)
			}
			err = e.send(t, "someone@sender.test", []string{"alice@a.test"}, msg)
			if c.code != 0 {
				se, _ := err.(*gosmtp.SMTPError)
				if se == nil || se.Code != c.code || se.EnhancedCode != (gosmtp.EnhancedCode{5, 7, 1}) || !strings.Contains(se.Message, "bl.test") {
					t.Fatalf("got %v, want %d 5.7.1 naming bl.test", err, c.code)
				}
				if hits := e.srv.DNSListHits(); hits["bl.test"] == 0 {
					t.Errorf("hit not counted: %v", hits)
				}
				if days, _ := e.st.SpamStats("a.test", 1); days[0].Refused != 1 {
					t.Errorf("refusal not in the domain's stats: %+v", days)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := e.mailbox(t, "alice@a.test", c.box)
			if len(got) != 1 {
				t.Fatalf("%s has %d messages", c.box, len(got))
			}
			if c.status != "" && !strings.Contains(got[0], c.status) {
				t.Errorf("no %q in %q", c.status, got[0][:300])
			}
			if vs, _ := junkResults(t, got[0]); c.box == "Junk" && (len(vs) != 1 || vs[0].Value != "spam" || vs[0].Params["policy.dnsbl"] != "bl.test") {
				t.Errorf("Authentication-Results verdict %+v", vs)
			}
		})
	}
}
