package autoconfig

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/authsmtp/authsmtp/store"
)

// needTool finds an outside tool, skipping without it (failing in CI).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

var testPorts = Ports{IMAP: 10143, IMAPS: 10993, Submission: 10587, Submissions: 10465}

func newServer(t *testing.T, ports Ports) *httptest.Server {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddDomain("example.test"); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Hostname: "mail.example.test", Ports: func() Ports { return ports }, Hosted: st.IsHosted})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// curl runs curl and returns the body and the HTTP status.
func curl(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, err := exec.Command(needTool(t, "curl"), append([]string{"-sS", "-w", "\n%{http_code}"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	return s[:i], s[i+1:]
}

type tbServerT struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Username string `xml:"username"`
}

type tbT struct {
	Provider struct {
		ID       string      `xml:"id,attr"`
		Domain   string      `xml:"domain"`
		Incoming []tbServerT `xml:"incomingServer"`
		Outgoing []tbServerT `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func TestThunderbirdWithCurl(t *testing.T) {
	srv := newServer(t, testPorts)
	for _, req := range [][]string{
		{srv.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=Ann%40Example.TEST"},
		// autoconfig.<domain> host, domain from the Host header alone.
		{"-H", "Host: autoconfig.example.test", srv.URL + "/mail/config-v1.1.xml"},
	} {
		body, code := curl(t, req...)
		if code != "200" {
			t.Fatalf("%v: %s %s", req, code, body)
		}
		var c tbT
		if err := xml.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if c.Provider.Domain != "example.test" || c.Provider.ID != "example.test" {
			t.Errorf("provider %+v", c.Provider)
		}
		in, out := c.Provider.Incoming, c.Provider.Outgoing
		if len(in) != 2 || in[0] != (tbServerT{"imap", "mail.example.test", 10993, "SSL", "%EMAILADDRESS%"}) ||
			in[1] != (tbServerT{"imap", "mail.example.test", 10143, "STARTTLS", "%EMAILADDRESS%"}) {
			t.Errorf("incoming %+v", in)
		}
		if len(out) != 2 || out[0] != (tbServerT{"smtp", "mail.example.test", 10465, "SSL", "%EMAILADDRESS%"}) ||
			out[1] != (tbServerT{"smtp", "mail.example.test", 10587, "STARTTLS", "%EMAILADDRESS%"}) {
			t.Errorf("outgoing %+v", out)
		}
	}
}

// Only the listeners that are on are advertised.
func TestThunderbirdOnlyServedPorts(t *testing.T) {
	srv := newServer(t, Ports{IMAPS: 993, Submission: 587})
	body, code := curl(t, srv.URL+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@example.test")
	var c tbT
	if code != "200" || xml.Unmarshal([]byte(body), &c) != nil {
		t.Fatalf("%s %s", code, body)
	}
	if len(c.Provider.Incoming) != 1 || c.Provider.Incoming[0].Port != 993 || len(c.Provider.Outgoing) != 1 || c.Provider.Outgoing[0].Port != 587 {
		t.Fatalf("%+v", c.Provider)
	}
}

func TestAutodiscoverWithCurl(t *testing.T) {
	srv := newServer(t, testPorts)
	req := `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>bob@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
	body, code := curl(t, "-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", req, srv.URL+"/Autodiscover/Autodiscover.xml")
	if code != "200" {
		t.Fatalf("%s %s", code, body)
	}
	var resp struct {
		Response struct {
			Account struct {
				Action    string `xml:"Action"`
				Protocols []struct {
					Type, Server, LoginName, SSL, Encryption string
					Port                                     int
				} `xml:"Protocol"`
			} `xml:"Account"`
		} `xml:"Response"`
	}
	if err := xml.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"`) {
		t.Errorf("response schema missing:\n%s", body)
	}
	ps := resp.Response.Account.Protocols
	if resp.Response.Account.Action != "settings" || len(ps) != 2 {
		t.Fatalf("%+v", resp)
	}
	if ps[0].Type != "IMAP" || ps[0].Port != 10993 || ps[0].Encryption != "SSL" || ps[0].LoginName != "bob@example.test" || ps[0].Server != "mail.example.test" {
		t.Errorf("IMAP %+v", ps[0])
	}
	if ps[1].Type != "SMTP" || ps[1].Port != 10465 || ps[1].Encryption != "SSL" {
		t.Errorf("SMTP %+v", ps[1])
	}
}

// TestAppleProfile parses the profile with Python's plistlib, a real
// property list parser.
func TestAppleProfile(t *testing.T) {
	srv := newServer(t, Ports{IMAP: 143, Submission: 587})
	resp, err := http.Get(srv.URL + "/.well-known/autoconfig/apple.mobileconfig?emailaddress=carol%40example.test")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="carol@example.test.mobileconfig"`) {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	py := exec.Command(needTool(t, "python3"), "-c", `
import json, plistlib, sys
d = plistlib.loads(sys.stdin.buffer.read())
a = d["PayloadContent"][0]
print(json.dumps({"type": d["PayloadType"], "acct": a["EmailAccountType"], "in": a["IncomingMailServerPortNumber"],
  "out": a["OutgoingMailServerPortNumber"], "host": a["IncomingMailServerHostName"], "user": a["IncomingMailServerUsername"],
  "ssl": a["IncomingMailServerUseSSL"], "uuid": d["PayloadUUID"]}))`)
	py.Stdin = resp.Body
	var stderr strings.Builder
	py.Stderr = &stderr
	out, err := py.Output()
	if err != nil {
		t.Fatalf("plistlib: %v\n%s", err, stderr.String())
	}
	var got map[string]any
	json.Unmarshal(out, &got)
	want := map[string]any{"type": "Configuration", "acct": "EmailTypeIMAP", "in": 143.0, "out": 587.0,
		"host": "mail.example.test", "user": "carol@example.test", "ssl": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if u, _ := got["uuid"].(string); len(u) != 36 {
		t.Errorf("uuid %q", u)
	}
}

// Bad input: unknown domains, bad addresses, wrong methods, oversized
// and hostile XML.
func TestBadRequests(t *testing.T) {
	srv := newServer(t, testPorts)
	cases := []struct {
		name string
		args []string
		code string
	}{
		{"unhosted domain", []string{srv.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@other.test"}, "404"},
		{"unhosted autoconfig host", []string{"-H", "Host: autoconfig.other.test", srv.URL + "/mail/config-v1.1.xml"}, "404"},
		{"no address, plain host", []string{srv.URL + "/mail/config-v1.1.xml"}, "400"},
		{"bad address", []string{srv.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%22%3E%3Cscript%3E@example.test"}, "400"},
		{"POST to thunderbird", []string{"-X", "POST", srv.URL + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@example.test"}, "405"},
		{"GET autodiscover", []string{srv.URL + "/autodiscover/autodiscover.xml"}, "405"},
		{"garbage autodiscover", []string{"--data-binary", "not xml at all", srv.URL + "/autodiscover/autodiscover.xml"}, "400"},
		{"no address autodiscover", []string{"--data-binary", "<Autodiscover><Request></Request></Autodiscover>", srv.URL + "/autodiscover/autodiscover.xml"}, "400"},
		{"entity expansion", []string{"--data-binary", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "bob@example.test">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>`, srv.URL + "/autodiscover/autodiscover.xml"}, "400"},
		{"external entity", []string{"--data-binary", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>`, srv.URL + "/autodiscover/autodiscover.xml"}, "400"},
		{"huge autodiscover", []string{"--data-binary", "<Autodiscover><Request><EMailAddress>" + strings.Repeat("a", 20000) + "@example.test</EMailAddress></Request></Autodiscover>", srv.URL + "/autodiscover/autodiscover.xml"}, "413"},
		{"apple without address", []string{srv.URL + "/.well-known/autoconfig/apple.mobileconfig"}, "400"},
		{"apple unhosted", []string{srv.URL + "/.well-known/autoconfig/apple.mobileconfig?emailaddress=a@other.test"}, "404"},
		{"unknown path", []string{srv.URL + "/.well-known/autoconfig/other"}, "404"},
	}
	for _, c := range cases {
		body, code := curl(t, c.args...)
		if code != c.code {
			t.Errorf("%s: %s, want %s: %s", c.name, code, c.code, body)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "root:") {
			t.Errorf("%s: reflected input: %s", c.name, body)
		}
	}
}
