// Package tlsrpt sends SMTP TLS reports (RFC 8460) about outbound mail:
// the queue hands every TLS session's result to a Reporter, which adds
// them up per recipient domain and UTC day in the store (bucket
// tlsrptout), and once a day mails each domain that publishes a
// _smtp._tls record its report of the day before: JSON, gzipped, mailed
// to a mailto: rua (DKIM-signed with a hosted domain's key, through the
// normal queue) and POSTed to an https: rua (https.go).
package tlsrpt

import (
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// Build makes the report of one day of one domain, submitted by
// organization (our host name) with contact as the contact-info, in the
// one set of RFC 8460 §4.4 types the received reports are read into.
func Build(d store.TLSDay, organization, contact string) (*reports.TLSReport, error) {
	start, err := time.Parse(time.DateOnly, d.Day)
	if err != nil {
		return nil, err
	}
	r := &reports.TLSReport{
		OrganizationName: organization,
		DateRange:        reports.TLSRange{Start: start.UTC(), End: start.Add(24*time.Hour - time.Second).UTC()},
		ContactInfo:      contact,
		ReportID:         d.Day + "_" + d.Domain + "@" + organization,
	}
	for _, p := range d.Policies {
		pr := reports.TLSPolicy{
			Policy:  reports.TLSPolicyDesc{Type: p.Type, String: p.Strings, Domain: d.Domain, MXHost: p.MX},
			Summary: reports.TLSSummary{Successful: p.Success, Failed: p.Failed()},
		}
		for _, f := range p.Failures {
			pr.FailureDetails = append(pr.FailureDetails, reports.TLSFailureDetail{ResultType: f.Result, SendingMTAIP: f.SendingIP,
				ReceivingMXHostname: f.MXHost, ReceivingIP: f.ReceivingIP, FailedSessions: f.Count})
		}
		r.Policies = append(r.Policies, pr)
	}
	return r, nil
}

// Destinations are where a domain wants its reports (rua=, RFC 8460 §3).
type Destinations struct {
	Mail  []string // mailto: addresses
	HTTPS []string // https: URLs, POSTed to
}

// None says there is nowhere to send a report.
func (d Destinations) None() bool { return len(d.Mail) == 0 && len(d.HTTPS) == 0 }

// RUA reads the destinations of a _smtp._tls TXT record (RFC 8460 §3):
// "v=TLSRPTv1; rua=mailto:a@b.example,https://...". Other schemes, and
// addresses or URLs that do not parse, are left out.
func RUA(txts []string) Destinations {
	var out Destinations
	for _, t := range txts {
		fields := strings.Split(t, ";")
		if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
			continue
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
			if !ok || strings.TrimSpace(k) != "rua" {
				continue
			}
			for _, u := range strings.Split(v, ",") {
				u = strings.TrimSpace(u)
				if addr, ok := strings.CutPrefix(u, "mailto:"); ok && strings.Count(addr, "@") == 1 && !strings.ContainsAny(addr, " <>\r\n\"") {
					out.Mail = append(out.Mail, addr)
				} else if link, ok := httpsRUA(u); ok {
					out.HTTPS = append(out.HTTPS, link)
				}
			}
		}
		break // one record only; several are an error (§3), the first wins
	}
	return out
}
