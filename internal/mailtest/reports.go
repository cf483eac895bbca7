package mailtest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Report mails shaped as the big senders send them (RFC 7489 §7.2.1.1,
// RFC 8460 §5.3): the report compressed and base64-encoded, as the whole
// message (Google's zip) or as a part beside a short text (Microsoft's
// gzip, Yahoo's zip), or a TLS report in a multipart/report.

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// Zip puts files (name, content, name, content ...) in a zip.
func Zip(files ...string) []byte {
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	for i := 0; i+1 < len(files); i += 2 {
		f, _ := w.Create(files[i])
		f.Write([]byte(files[i+1]))
	}
	w.Close()
	return out.Bytes()
}

func b64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	out.WriteString(s + "\r\n")
	return out.String()
}

func reportHeader(from, to, subject, id string) string {
	return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\nMessage-ID: <" + id + ">\r\nMIME-Version: 1.0\r\n"
}

// GoogleDMARCMail is Google's shape: the message is the zip.
func GoogleDMARCMail(to, domain, xml string) []byte {
	name := "google.com!" + domain + "!1795651200!1795737599.zip"
	return []byte(reportHeader("noreply-dmarc-support@google.com", to, "Report domain: "+domain+" Submitter: google.com Report-ID: 11827036918837360451", "11827036918837360451@google.com") +
		"Content-Type: application/zip; name=\"" + name + "\"\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64Lines(Zip(strings.TrimSuffix(name, ".zip")+".xml", xml)))
}

// MicrosoftDMARCMail is Microsoft's shape: a text part and the gzip.
func MicrosoftDMARCMail(to, domain, xml string) []byte {
	name := "enterprise.protection.outlook.com!" + domain + "!1795651200!1795737600.xml.gz"
	return []byte(reportHeader("dmarcreport@microsoft.com", to, "Report Domain: "+domain+" Submitter: enterprise.protection.outlook.com Report-ID: <f3c2a9e4b1d04d8f9a6e2b7c5d1e0f3a>", "f3c2a9e4b1d04d8f9a6e2b7c5d1e0f3a@protection.outlook.com") +
		"Content-Type: multipart/mixed; boundary=\"_000_ms_\"\r\n\r\n" +
		"--_000_ms_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\nThis is a DMARC aggregate report from Microsoft Corporation.\r\n\r\n" +
		"--_000_ms_\r\nContent-Type: application/gzip\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64Lines(Gzip([]byte(xml))) + "--_000_ms_--\r\n")
}

// YahooDMARCMail is Yahoo's shape: plain XML-report prose and the zip
// labelled application/zip.
func YahooDMARCMail(to, domain, xml string) []byte {
	name := "yahoo.com!" + domain + "!1795651200!1795737599.xml.zip"
	return []byte(reportHeader("dmarchelp@yahooinc.com", to, "Report Domain: "+domain+" Submitter: yahoo.com Report-ID: <1795737612.338551>", "1795737612.338551@dmarc.yahoo.com") +
		"Content-Type: multipart/mixed; boundary=\"----=_Part_1\"\r\n\r\n" +
		"------=_Part_1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\r\n" +
		"------=_Part_1\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" +
		b64Lines(Zip(strings.TrimSuffix(name, ".zip"), xml)) + "------=_Part_1--\r\n")
}

// PlainDMARCMail carries the XML uncompressed as text/xml.
func PlainDMARCMail(to, domain, xml string) []byte {
	return []byte(reportHeader("dmarc@reporter.test", to, "Report Domain: "+domain, "plain-report@reporter.test") +
		"Content-Type: text/xml; charset=utf-8\r\nContent-Disposition: attachment; filename=\"reporter.test!" + domain + "!1!2.xml\"\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(xml, "\r\n", "\n"), "\n", "\r\n"))
}

// TLSRPTMail is an RFC 8460 §5.3 report: multipart/report with the JSON
// gzipped as application/tlsrpt+gzip.
func TLSRPTMail(to, domain, reportJSON string) []byte {
	return []byte(reportHeader("tlsrpt-noreply@microsoft.com", to, "Report Domain: "+domain+" Submitter: microsoft.com Report-ID: <134091234567891234+"+domain+">", "tlsrpt-134091234567891234@microsoft.com") +
		"TLS-Report-Domain: " + domain + "\r\nTLS-Report-Submitter: microsoft.com\r\n" +
		"Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"tlsrpt\"\r\n\r\n" +
		"--tlsrpt\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\nThis is an aggregate TLS report from microsoft.com\r\n\r\n" +
		"--tlsrpt\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=\"microsoft.com!" + domain + "!1795651200!1795737599!134091234567891234.json.gz\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64Lines(Gzip([]byte(reportJSON))) + "--tlsrpt--\r\n")
}

// ZipBombDMARCMail is a DMARC-looking mail whose zip inflates to size
// bytes of XML whitespace (a few KiB compressed).
func ZipBombDMARCMail(to, domain string, size int) []byte {
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	f, _ := w.Create("bomb.xml")
	f.Write([]byte("<?xml version=\"1.0\"?>\n<feedback>"))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for n := 0; n < size; n += len(chunk) {
		f.Write(chunk)
	}
	w.Close()
	return []byte(reportHeader("bomb@reporter.test", to, fmt.Sprintf("Report Domain: %s zip bomb", domain), "bomb@reporter.test") +
		"Content-Type: application/zip; name=\"bomb.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64Lines(out.Bytes()))
}

// Base64Lines is b base64-encoded in 76-character CRLF lines.
func Base64Lines(b []byte) string { return b64Lines(b) }

// ReportSample is a sample report of store/reports/testdata for domain
// (instead of example.com), its period moved to the given UTC day.
func ReportSample(t testing.TB, name, domain string, day time.Time) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "store", "reports", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	day = day.UTC().Truncate(24 * time.Hour)
	begin := strconv.FormatInt(day.Unix(), 10)
	return strings.NewReplacer("example.com", domain,
		"1795651200", begin, "1795737599", strconv.FormatInt(day.Unix()+86399, 10), "1795737600", strconv.FormatInt(day.Unix()+86400, 10),
		"2026-11-27", day.Format("2006-01-02")).Replace(string(b))
}
