package mx

import (
	"errors"
	"mime"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// Report addresses: dmarc-reports@ and tls-reports@ of every hosted
// domain (store.ReportLocalParts) take DMARC aggregate and SMTP TLS
// reports whether or not a user of that name exists. Their mail is not
// delivered to a mailbox: the report is parsed (store/reports, bounded)
// and stored per domain with the mail (store/reportsin.go). A mail to
// them that holds no readable report is refused, unless the same
// transaction has other recipients, who get it as usual.
//
// TLS reports sent to postmaster@ (the address older `domain dns`
// output proposed) are recorded too; that mail still reaches the
// postmaster.

// reportRcpt is one report address of the transaction.
type reportRcpt struct {
	addr, domain string
	kind         reports.Kind
}

// addReportRcpt takes addr if it is a report address; false otherwise.
func (s *session) addReportRcpt(addr, domain string) bool {
	kind := store.ReportKindOf(addr)
	if kind == "" {
		return false
	}
	for _, r := range s.reports {
		if r.addr == addr {
			return true
		}
	}
	s.reports = append(s.reports, reportRcpt{addr: addr, domain: domain, kind: kind})
	return true
}

// takeReports parses and stores the report of each report recipient. It
// returns the refusal for a mail that carried none (nil when stored).
func (s *session) takeReports(msg []byte) error {
	var refusal error
	done := map[string]bool{}
	for _, r := range s.reports {
		key := r.domain + " " + string(r.kind)
		if done[key] {
			continue
		}
		done[key] = true
		found, err := reports.Extract(msg, r.kind, s.s.cfg.Reports)
		if err != nil {
			s.log.Info("mx report refused", "rcpt", r.addr, "err", store.SanitizeLog(err.Error()))
			refusal = reportRefusal(r.kind, err)
			continue
		}
		id, dup, err := s.s.st.AddReport(r.domain, found, s.from, msg, time.Now())
		if errors.Is(err, store.ErrReportCap) {
			s.log.Warn("mx report refused: the domain's reports for today are at their cap", "rcpt", r.addr, "org", store.SanitizeLog(orgOf(found)), "err", err)
			refusal = smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "%s has received as many reports as it takes today; try again tomorrow", r.domain)
			continue
		}
		if err != nil {
			s.log.Error("mx storing a report", "rcpt", r.addr, "err", err)
			return errInternal
		}
		s.log.Info("mx report stored", "rcpt", r.addr, "kind", found.Kind, "org", store.SanitizeLog(orgOf(found)), "id", id, "duplicate", dup)
	}
	return refusal
}

func orgOf(f *reports.Found) string {
	if f.DMARC != nil {
		return f.DMARC.Metadata.OrgName
	}
	if f.TLS != nil {
		return f.TLS.OrganizationName
	}
	return ""
}

func reportRefusal(kind reports.Kind, err error) error {
	if errors.Is(err, reports.ErrBomb) {
		return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "the report inflates past this server's limit")
	}
	what := "a DMARC aggregate report"
	if kind == reports.KindTLSRPT {
		what = "an SMTP TLS report"
	}
	reason := err.Error()
	if len(reason) > 160 {
		reason = reason[:160]
	}
	return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "this address takes only %s, and this mail holds none it can read: %s", what, store.SanitizeLog(reason))
}

// recordPostmasterTLSRPT stores a TLS report (RFC 8460 §5.3:
// multipart/report; report-type=tlsrpt) mailed to a postmaster@ of ours.
func (s *session) recordPostmasterTLSRPT(msg []byte, h *mailmsg.Header) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || !strings.EqualFold(params["report-type"], "tlsrpt") {
		return
	}
	var domains []string
	for _, rc := range s.d.Recipients() {
		if store.IsReservedLocal(rc.Address) && strings.HasPrefix(strings.ToLower(rc.Address), "postmaster@") {
			domains = append(domains, store.DomainOf(rc.Address))
		}
	}
	if len(domains) == 0 {
		return
	}
	found, err := reports.Extract(msg, reports.KindTLSRPT, s.s.cfg.Reports)
	if err != nil {
		s.log.Info("mx TLS report to postmaster not read", "err", store.SanitizeLog(err.Error()))
		return
	}
	for _, d := range domains {
		if _, _, err := s.s.st.AddReport(d, found, s.from, msg, time.Now()); err != nil {
			s.log.Warn("mx storing a TLS report to postmaster", "domain", d, "err", err)
		}
	}
}
