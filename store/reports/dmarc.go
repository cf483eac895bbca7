// Package reports reads the machine-written reports a domain owner
// receives about their mail: DMARC aggregate reports (RFC 7489 §7.2, XML)
// and SMTP TLS reports (RFC 8460, JSON), as the big senders mail them —
// a zip, a gzip or plain XML/JSON, as the whole message or as one of its
// parts. It also writes DMARC aggregate reports (MarshalDMARC).
//
// Everything here reads untrusted bytes: the MIME tree through the
// bounded store/mailparse, attachments and archives within Limits (the
// compressed size, the decompressed size, the number of zip entries; a
// zip or gzip bomb is refused, never inflated), and the report itself
// with encoding/xml or encoding/json into fixed types, checked against
// the schema's required fields and capped in rows.
package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// Feedback is a DMARC aggregate report (RFC 7489 Appendix C). Element
// names are matched in any XML namespace, as senders differ.
type Feedback struct {
	XMLName  xml.Name        `xml:"feedback" json:"-"`
	Version  string          `xml:"version,omitempty" json:"version,omitempty"`
	Metadata ReportMetadata  `xml:"report_metadata" json:"metadata"`
	Policy   PolicyPublished `xml:"policy_published" json:"policy"`
	Records  []Record        `xml:"record" json:"records"`
}

// ReportMetadata says who reported and for which period.
type ReportMetadata struct {
	OrgName          string    `xml:"org_name" json:"org_name"`
	Email            string    `xml:"email" json:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty" json:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id" json:"report_id"`
	DateRange        DateRange `xml:"date_range" json:"date_range"`
	Errors           []string  `xml:"error,omitempty" json:"errors,omitempty"`
}

// DateRange is the reporting period in seconds since the epoch (UTC).
type DateRange struct {
	Begin int64 `xml:"begin" json:"begin"`
	End   int64 `xml:"end" json:"end"`
}

// PolicyPublished is the DMARC record the reporter found.
type PolicyPublished struct {
	Domain string `xml:"domain" json:"domain"`
	ADKIM  string `xml:"adkim,omitempty" json:"adkim,omitempty"`
	ASPF   string `xml:"aspf,omitempty" json:"aspf,omitempty"`
	P      string `xml:"p" json:"p"`
	SP     string `xml:"sp,omitempty" json:"sp,omitempty"`
	Pct    string `xml:"pct,omitempty" json:"pct,omitempty"`
	FO     string `xml:"fo,omitempty" json:"fo,omitempty"`
}

// Record is one row: a source IP and what happened to its mail.
type Record struct {
	Row         Row         `xml:"row" json:"row"`
	Identifiers Identifiers `xml:"identifiers" json:"identifiers"`
	AuthResults AuthResults `xml:"auth_results" json:"auth_results"`
}

// Row is the source, its message count and the policy outcome.
type Row struct {
	SourceIP        string          `xml:"source_ip" json:"source_ip"`
	Count           int64           `xml:"count" json:"count"`
	PolicyEvaluated PolicyEvaluated `xml:"policy_evaluated" json:"policy_evaluated"`
}

// PolicyEvaluated is the disposition and the DMARC-aligned results.
type PolicyEvaluated struct {
	Disposition string         `xml:"disposition" json:"disposition"`
	DKIM        string         `xml:"dkim" json:"dkim"`
	SPF         string         `xml:"spf" json:"spf"`
	Reasons     []PolicyReason `xml:"reason,omitempty" json:"reasons,omitempty"`
}

// PolicyReason explains a disposition other than the policy's.
type PolicyReason struct {
	Type    string `xml:"type" json:"type"`
	Comment string `xml:"comment,omitempty" json:"comment,omitempty"`
}

// Identifiers are the domains of the message.
type Identifiers struct {
	EnvelopeTo   string `xml:"envelope_to,omitempty" json:"envelope_to,omitempty"`
	EnvelopeFrom string `xml:"envelope_from,omitempty" json:"envelope_from,omitempty"`
	HeaderFrom   string `xml:"header_from" json:"header_from"`
}

// AuthResults are the raw, unaligned SPF and DKIM results.
type AuthResults struct {
	DKIM []DKIMAuthResult `xml:"dkim,omitempty" json:"dkim,omitempty"`
	SPF  []SPFAuthResult  `xml:"spf" json:"spf"`
}

// DKIMAuthResult is one DKIM signature's result.
type DKIMAuthResult struct {
	Domain      string `xml:"domain" json:"domain"`
	Selector    string `xml:"selector,omitempty" json:"selector,omitempty"`
	Result      string `xml:"result" json:"result"`
	HumanResult string `xml:"human_result,omitempty" json:"human_result,omitempty"`
}

// SPFAuthResult is the SPF result of one identity.
type SPFAuthResult struct {
	Domain string `xml:"domain" json:"domain"`
	Scope  string `xml:"scope,omitempty" json:"scope,omitempty"`
	Result string `xml:"result" json:"result"`
}

// Begin and End are the reporting period.
func (f *Feedback) Begin() time.Time { return time.Unix(f.Metadata.DateRange.Begin, 0).UTC() }
func (f *Feedback) End() time.Time   { return time.Unix(f.Metadata.DateRange.End, 0).UTC() }

// Messages is the number of messages the report covers.
func (f *Feedback) Messages() int64 {
	var n int64
	for _, r := range f.Records {
		n += r.Row.Count
	}
	return n
}

// ErrNotReport is a message or payload that holds no report of the kind
// looked for.
var ErrNotReport = errors.New("no report found")

// Schema values (RFC 7489 Appendix C), in lower case.
var (
	dispositions = set("none", "quarantine", "reject")
	alignments   = set("", "r", "s")
	policies     = set("none", "quarantine", "reject")
	dmarcResults = set("pass", "fail")
	dkimResults  = set("none", "pass", "fail", "policy", "neutral", "temperror", "permerror")
	spfResults   = set("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror")
)

func set(v ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range v {
		m[s] = true
	}
	return m
}

// ParseDMARC reads one aggregate report's XML and checks it against the
// schema: the required fields, the enumerations, a source_ip that is an
// IP address, counts that are not negative, and at most lim.MaxRecords
// rows. Values are trimmed and enumerations lower-cased. Real reports
// differ in small ways the schema forbids (a "softfail" in the DKIM
// results, a missing <scope>): those are kept, anything outside the
// enumerations of the evaluated policy is refused.
func ParseDMARC(data []byte, lim Limits) (*Feedback, error) {
	lim = lim.orDefault()
	if len(data) > lim.MaxDecompressed {
		return nil, fmt.Errorf("DMARC report of %d bytes: over the limit of %d", len(data), lim.MaxDecompressed)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = asciiCompatible
	var f Feedback
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty XML", ErrNotReport)
		}
		return nil, fmt.Errorf("reading the DMARC report XML: %w", err)
	}
	// Nothing but whitespace, comments and processing instructions may follow.
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("after the DMARC report: %w", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text after the DMARC report")
			}
		case xml.StartElement:
			return nil, errors.New("a second element after the DMARC report")
		}
	}
	if err := f.check(lim); err != nil {
		return nil, fmt.Errorf("DMARC report: %w", err)
	}
	return &f, nil
}

func (f *Feedback) check(lim Limits) error {
	m := &f.Metadata
	for _, p := range []*string{&f.Version, &m.OrgName, &m.Email, &m.ExtraContactInfo, &m.ReportID} {
		*p = strings.TrimSpace(*p)
	}
	if m.OrgName == "" || m.ReportID == "" {
		return errors.New("report_metadata lacks org_name or report_id")
	}
	if dr := m.DateRange; dr.Begin < 0 || dr.End < dr.Begin {
		return fmt.Errorf("date_range %d..%d is not a period", dr.Begin, dr.End)
	}
	if len(m.Errors) > 100 {
		m.Errors = m.Errors[:100]
	}
	p := &f.Policy
	p.Domain = lowerTrim(p.Domain)
	p.ADKIM, p.ASPF, p.P, p.SP = lowerTrim(p.ADKIM), lowerTrim(p.ASPF), lowerTrim(p.P), lowerTrim(p.SP)
	p.Pct, p.FO = strings.TrimSpace(p.Pct), strings.TrimSpace(p.FO)
	if p.Domain == "" {
		return errors.New("policy_published lacks the domain")
	}
	if !alignments[p.ADKIM] || !alignments[p.ASPF] || !policies[p.P] || (p.SP != "" && !policies[p.SP]) {
		return fmt.Errorf("policy_published has an unknown value (adkim %q aspf %q p %q sp %q)", p.ADKIM, p.ASPF, p.P, p.SP)
	}
	if len(f.Records) > lim.MaxRecords {
		return fmt.Errorf("%d records: over the limit of %d", len(f.Records), lim.MaxRecords)
	}
	for i := range f.Records {
		r := &f.Records[i]
		ip, err := netip.ParseAddr(strings.TrimSpace(r.Row.SourceIP))
		if err != nil {
			return fmt.Errorf("record %d: source_ip %q is not an IP address", i+1, r.Row.SourceIP)
		}
		r.Row.SourceIP = ip.Unmap().String()
		if r.Row.Count < 0 {
			return fmt.Errorf("record %d: negative count", i+1)
		}
		pe := &r.Row.PolicyEvaluated
		pe.Disposition, pe.DKIM, pe.SPF = lowerTrim(pe.Disposition), lowerTrim(pe.DKIM), lowerTrim(pe.SPF)
		if !dispositions[pe.Disposition] || !dmarcResults[pe.DKIM] || !dmarcResults[pe.SPF] {
			return fmt.Errorf("record %d: policy_evaluated has an unknown value (disposition %q dkim %q spf %q)", i+1, pe.Disposition, pe.DKIM, pe.SPF)
		}
		id := &r.Identifiers
		id.HeaderFrom, id.EnvelopeFrom, id.EnvelopeTo = lowerTrim(id.HeaderFrom), lowerTrim(id.EnvelopeFrom), lowerTrim(id.EnvelopeTo)
		if id.HeaderFrom == "" {
			return fmt.Errorf("record %d: identifiers lack header_from", i+1)
		}
		if len(r.AuthResults.DKIM) > 50 || len(r.AuthResults.SPF) > 50 {
			return fmt.Errorf("record %d: too many auth_results", i+1)
		}
		for j := range r.AuthResults.DKIM {
			d := &r.AuthResults.DKIM[j]
			d.Domain, d.Result, d.Selector = lowerTrim(d.Domain), lowerTrim(d.Result), strings.TrimSpace(d.Selector)
			if d.Result == "softfail" { // seen in the wild; not in the schema
				d.Result = "fail"
			}
			if !dkimResults[d.Result] {
				return fmt.Errorf("record %d: DKIM result %q", i+1, d.Result)
			}
		}
		for j := range r.AuthResults.SPF {
			s := &r.AuthResults.SPF[j]
			s.Domain, s.Result, s.Scope = lowerTrim(s.Domain), lowerTrim(s.Result), lowerTrim(s.Scope)
			if !spfResults[s.Result] {
				return fmt.Errorf("record %d: SPF result %q", i+1, s.Result)
			}
		}
	}
	return nil
}

func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// asciiCompatible lets reports declared in US-ASCII or Latin-1 through:
// their element names and the values we read are ASCII.
func asciiCompatible(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii", "iso-8859-1", "latin1", "windows-1252":
		return r, nil
	}
	return nil, fmt.Errorf("unsupported XML encoding %q", label)
}
