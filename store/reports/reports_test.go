package reports

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParseDMARCSamples: the three senders' XML parse to what they say.
func TestParseDMARCSamples(t *testing.T) {
	for _, c := range []struct {
		file, org string
		records   int
		messages  int64
	}{
		{"google.xml", "google.com", 3, 19},
		{"microsoft.xml", "Enterprise Outlook", 2, 6},
		{"yahoo.xml", "Yahoo", 1, 2},
	} {
		f, err := ParseDMARC([]byte(sample(t, c.file)), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if f.Metadata.OrgName != c.org || len(f.Records) != c.records || f.Messages() != c.messages || f.Policy.Domain != "example.com" {
			t.Fatalf("%s: org %q, %d records, %d messages, domain %q", c.file, f.Metadata.OrgName, len(f.Records), f.Messages(), f.Policy.Domain)
		}
		if !f.Begin().Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("%s: begin %v", c.file, f.Begin())
		}
	}
	f, _ := ParseDMARC([]byte(sample(t, "google.xml")), Limits{})
	if r := f.Records[1]; r.Row.SourceIP != "203.0.113.77" || r.Row.PolicyEvaluated.Disposition != "quarantine" || r.AuthResults.SPF[0].Result != "softfail" {
		t.Fatalf("record 2: %+v", r)
	}
	if r := f.Records[2]; r.Row.SourceIP != "2001:db8::25" || r.Row.PolicyEvaluated.Reasons[0].Type != "forwarded" {
		t.Fatalf("record 3: %+v", r)
	}
}

// TestParseDMARCRefuses: what the schema forbids is refused with a reason.
func TestParseDMARCRefuses(t *testing.T) {
	good := sample(t, "yahoo.xml")
	for name, xml := range map[string]string{
		"empty":         "",
		"not xml":       "hello",
		"truncated":     good[:len(good)/2],
		"no org":        strings.Replace(good, "<org_name>Yahoo</org_name>", "", 1),
		"no report id":  strings.Replace(good, "<report_id>1795737612.338551</report_id>", "", 1),
		"bad ip":        strings.Replace(good, "192.0.2.25", "192.0.2.300", 1),
		"negative":      strings.Replace(good, "<count>2</count>", "<count>-2</count>", 1),
		"disposition":   strings.Replace(good, "<disposition>none</disposition>", "<disposition>drop</disposition>", 1),
		"period":        strings.Replace(good, "<end>1795737599</end>", "<end>1</end>", 1),
		"no domain":     strings.Replace(good, "<domain>example.com</domain>\n    <adkim>", "<adkim>", 1),
		"other root":    strings.Replace(strings.Replace(good, "<feedback>", "<report>", 1), "</feedback>", "</report>", 1),
		"trailing elem": good + "<feedback/>",
		"entity":        `<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feedback>&a;</feedback>`,
		"utf-16":        `<?xml version="1.0" encoding="UTF-16"?><feedback/>`,
	} {
		if _, err := ParseDMARC([]byte(xml), Limits{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseDMARC([]byte(good), Limits{MaxRecords: 0}); err != nil {
		t.Fatal(err)
	}
	g := sample(t, "google.xml")
	if _, err := ParseDMARC([]byte(g), Limits{MaxRecords: 2}); err == nil {
		t.Fatal("3 records accepted with MaxRecords 2")
	}
}

// TestParseTLSRPTSamples: Google's and Microsoft's JSON; mx-host as a
// string is read too; required fields are checked.
func TestParseTLSRPTSamples(t *testing.T) {
	r, err := ParseTLSRPT([]byte(sample(t, "microsoft-tlsrpt.json")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := r.Sessions()
	if ok != 18 || failed != 3 || len(r.Policies[0].FailureDetails) != 2 || r.Policies[0].FailureDetails[0].ResultType != "certificate-host-mismatch" {
		t.Fatalf("microsoft: %d ok %d failed %+v", ok, failed, r.Policies)
	}
	g, err := ParseTLSRPT([]byte(sample(t, "google-tlsrpt.json")), Limits{})
	if err != nil || g.OrganizationName != "Google Inc." || g.Policies[0].Policy.Domain != "example.com" {
		t.Fatalf("google: %v %+v", err, g)
	}
	one := strings.Replace(sample(t, "microsoft-tlsrpt.json"), `"mx-host": ["mx.example.com"]`, `"mx-host": "mx.example.com"`, 1)
	if r, err := ParseTLSRPT([]byte(one), Limits{}); err != nil || r.Policies[0].Policy.MXHost[0] != "mx.example.com" {
		t.Fatalf("mx-host as a string: %v", err)
	}
	good := sample(t, "google-tlsrpt.json")
	for name, js := range map[string]string{
		"empty":     "",
		"array":     "[]",
		"no org":    strings.Replace(good, `"organization-name":"Google Inc.",`, "", 1),
		"no policy": strings.Replace(good, `"policy-type":"sts"`, `"policy-type":"dane"`, 1),
		"negative":  strings.Replace(good, `"total-successful-session-count":41`, `"total-successful-session-count":-1`, 1),
		"bad date":  strings.Replace(good, `2026-11-27T00:00:00Z"`, `yesterday"`, 1),
		"two":       good + good,
	} {
		if _, err := ParseTLSRPT([]byte(js), Limits{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestExtractShapes: every sender's mail shape yields its report.
func TestExtractShapes(t *testing.T) {
	cases := []struct {
		name string
		msg  []byte
		kind Kind
		org  string
	}{
		{"google zip", mailtest.GoogleDMARCMail("dmarc-reports@example.com", "example.com", sample(t, "google.xml")), KindDMARC, "google.com"},
		{"microsoft gzip", mailtest.MicrosoftDMARCMail("dmarc-reports@example.com", "example.com", sample(t, "microsoft.xml")), KindDMARC, "Enterprise Outlook"},
		{"yahoo zip", mailtest.YahooDMARCMail("dmarc-reports@example.com", "example.com", sample(t, "yahoo.xml")), KindDMARC, "Yahoo"},
		{"plain xml", mailtest.PlainDMARCMail("dmarc-reports@example.com", "example.com", sample(t, "yahoo.xml")), KindDMARC, "Yahoo"},
		{"tlsrpt gzip", mailtest.TLSRPTMail("tls-reports@example.com", "example.com", sample(t, "microsoft-tlsrpt.json")), KindTLSRPT, "Microsoft Corporation"},
	}
	for _, c := range cases {
		f, err := Extract(c.msg, "", Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		org := ""
		if f.DMARC != nil {
			org = f.DMARC.Metadata.OrgName
		} else if f.TLS != nil {
			org = f.TLS.OrganizationName
		}
		if f.Kind != c.kind || org != c.org || f.Name == "" {
			t.Fatalf("%s: kind %s org %q name %q", c.name, f.Kind, org, f.Name)
		}
		// Asking for the other kind finds nothing.
		other := KindTLSRPT
		if c.kind == KindTLSRPT {
			other = KindDMARC
		}
		if _, err := Extract(c.msg, other, Limits{}); !errors.Is(err, ErrNotReport) {
			t.Fatalf("%s as %s: %v", c.name, other, err)
		}
	}
}

// TestExtractRefusesBombs: a zip or gzip that inflates past the limit, or
// a zip of many entries, is refused as ErrBomb without inflating it all.
func TestExtractRefusesBombs(t *testing.T) {
	lim := Limits{MaxDecompressed: 1 << 20}
	bomb := mailtest.ZipBombDMARCMail("dmarc-reports@example.com", "example.com", 4<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb mail is %d bytes", len(bomb))
	}
	if _, err := Extract(bomb, "", lim); !errors.Is(err, ErrBomb) {
		t.Fatalf("zip bomb: %v", err)
	}
	huge := append([]byte("<feedback>"), bytes.Repeat([]byte(" "), 2<<20)...)
	gz := mailtest.MicrosoftDMARCMail("d@example.com", "example.com", string(huge))
	if _, err := Extract(gz, "", lim); !errors.Is(err, ErrBomb) {
		t.Fatalf("gzip bomb: %v", err)
	}
	var files []string
	for i := 0; i < 10; i++ {
		files = append(files, "r.xml", sample(t, "yahoo.xml"))
	}
	many := mailtest.GoogleDMARCMail("d@example.com", "example.com", "x")
	many = replaceZip(t, many, mailtest.Zip(files...))
	if _, err := Extract(many, "", Limits{}); !errors.Is(err, ErrBomb) {
		t.Fatalf("zip of 10 entries: %v", err)
	}
	if _, err := Extract([]byte("Subject: hi\r\n\r\njust text\r\n"), "", Limits{}); !errors.Is(err, ErrNotReport) {
		t.Fatalf("plain mail: %v", err)
	}
	bad := mailtest.PlainDMARCMail("d@example.com", "example.com", "<feedback><report_metadata>")
	if _, err := Extract(bad, "", Limits{}); !errors.Is(err, ErrNotReport) || !strings.Contains(err.Error(), "XML") {
		t.Fatalf("malformed XML: %v", err)
	}
}

// replaceZip swaps the base64 body of a Google-shaped mail for zip.
func replaceZip(t *testing.T, msg, zip []byte) []byte {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatal("no body")
	}
	return append(msg[:i+4:i+4], mailtest.Base64Lines(zip)...)
}

// TestSummaries: rows per day and source, the spoofing source first;
// TLS rows carry the mode and the failure types.
func TestSummaries(t *testing.T) {
	var fs []*Feedback
	for _, n := range []string{"google.xml", "microsoft.xml", "yahoo.xml"} {
		f, err := ParseDMARC([]byte(sample(t, n)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	s := SummarizeDMARC(fs)
	if s.Reports != 3 || s.Messages != 27 || s.Failing != 3 || s.Passing != 24 {
		t.Fatalf("summary %+v", s)
	}
	first := s.Rows[0]
	if !first.Attention || first.IP != "203.0.113.77" || first.Count != 3 || first.Disposition != "quarantine" || first.SPF != "softfail mailer.invalid" {
		t.Fatalf("first row %+v", first)
	}
	// 192.0.2.25 passing is one row summed over three reporters.
	var good *SourceRow
	for i := range s.Rows {
		if s.Rows[i].IP == "192.0.2.25" {
			if good != nil {
				t.Fatalf("192.0.2.25 in two rows: %+v", s.Rows)
			}
			good = &s.Rows[i]
		}
	}
	if good == nil || good.Count != 21 || len(good.Reporters) != 3 || good.Attention || good.DKIM != "pass example.com" {
		t.Fatalf("192.0.2.25: %+v", good)
	}
	r, _ := ParseTLSRPT([]byte(sample(t, "microsoft-tlsrpt.json")), Limits{})
	g, _ := ParseTLSRPT([]byte(sample(t, "google-tlsrpt.json")), Limits{})
	rows := SummarizeTLS([]*TLSReport{g, r})
	if len(rows) != 2 || rows[0].Org != "Microsoft Corporation" || rows[0].Mode != "testing" || len(rows[0].Failures) != 2 || rows[0].Failures[1].Type != "starttls-not-supported" {
		t.Fatalf("tls rows %+v", rows)
	}
}

// TestMarshalDMARCRoundTrip: what we write parses back to the same report.
func TestMarshalDMARCRoundTrip(t *testing.T) {
	f, err := ParseDMARC([]byte(sample(t, "google.xml")), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f.Version = "1.0"
	gz, err := GzipDMARC(f)
	if err != nil {
		t.Fatal(err)
	}
	found, err := Extract([]byte("Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n"+mailtest.Base64Lines(gz)), KindDMARC, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	g := found.DMARC
	if !reflect.DeepEqual(g.Metadata, f.Metadata) || g.Policy != f.Policy || len(g.Records) != 3 || g.Records[2].Row.PolicyEvaluated.Reasons[0].Type != "forwarded" || g.Messages() != f.Messages() {
		t.Fatalf("round trip:\n%+v\n%+v", g, f)
	}
}
