package mx

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/reports"
)

// verdict is what the authentication checks concluded.
type verdict struct {
	results    []authres.Result
	fromDomain string
	dmarc      authres.ResultValue
	policy     dmarc.Policy // of the From: domain, when DMARC failed
	// evals are the evaluations of author domains that ask for
	// aggregate reports (rua=), their disposition set by deliver.
	evals []store.DMARCEval
}

// orgDomain is the organizational domain (RFC 7489 §3.2) by the public
// suffix list; unknown suffixes count as one label.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(d))
	if err != nil {
		return strings.ToLower(d)
	}
	return o
}

func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

// authenticate runs SPF on the connection and envelope, DKIM on the
// message, and DMARC on the From: domain, all through the one resolver.
func (s *session) authenticate(msg []byte, h *mailmsg.Header) verdict {
	res := s.s.res
	helo := s.c.Hostname()
	var v verdict

	// SPF (RFC 7208) on MAIL FROM, or on the HELO name for <>: started at
	// MAIL (spfearly.go).
	if s.spf == nil {
		s.spf = s.startSPF(s.from)
	}
	spfDomain, spfRes := s.spf.domain, s.spf.wait()
	v.results = append(v.results, &authres.SPFResult{Value: authres.ResultValue(spfRes), From: s.from, Helo: helo})

	// DKIM (RFC 6376): every signature, a few at most.
	var dkimPass []string
	var dkimAll []reports.DKIMAuthResult
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: res.LookupTXTSimple, MaxVerifications: 5})
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		v.results = append(v.results, &authres.DKIMResult{Value: authres.ResultPermError, Reason: "malformed signature"})
	}
	for _, d := range vs {
		r := &authres.DKIMResult{Value: authres.ResultPass, Domain: d.Domain, Identifier: d.Identifier}
		switch {
		case d.Err == nil:
			dkimPass = append(dkimPass, d.Domain)
		case msgdkim.IsTempFail(d.Err):
			r.Value = authres.ResultTempError
		case msgdkim.IsPermFail(d.Err):
			r.Value = authres.ResultPermError
		default:
			r.Value = authres.ResultFail
		}
		v.results = append(v.results, r)
		dkimAll = append(dkimAll, reports.DKIMAuthResult{Domain: strings.ToLower(d.Domain), Result: dkimReportResult(r.Value)})
	}
	if len(vs) == 0 && err == nil {
		v.results = append(v.results, &authres.DKIMResult{Value: authres.ResultNone})
	}

	// DMARC (RFC 7489) on the From: domain. Real mail has From: fields
	// that hold no usable address, several addresses or several fields:
	// none is refused for that alone (an MX takes what submission must
	// refuse). No domain at all is recorded as dmarc=none; several are
	// each checked (§6.6.1) and the strictest outcome stands, so adding a
	// second author cannot dodge a p=reject.
	domains := h.FromDomains()
	if len(domains) == 0 {
		v.dmarc = authres.ResultNone
		v.results = append(v.results, &authres.DMARCResult{Value: authres.ResultNone, Reason: "no usable From: address"})
		return v
	}
	for _, from := range domains {
		r, p, ev := s.dmarcOne(from, spfRes, spfDomain, dkimPass)
		if ev != nil {
			ev.DKIM = dkimAll
			v.evals = append(v.evals, *ev)
		}
		v.results = append(v.results, &authres.DMARCResult{Value: r, From: from})
		if v.fromDomain == "" || dmarcRank(r, p) > dmarcRank(v.dmarc, v.policy) {
			v.fromDomain, v.dmarc, v.policy = from, r, p
		}
	}
	return v
}

// dmarcOne evaluates DMARC for one author domain; the policy is set only
// when the result is fail. When the domain's record asks for aggregate
// reports (rua=), the evaluation to report is returned too.
func (s *session) dmarcOne(from string, spfRes spf.Result, spfDomain string, dkimPass []string) (authres.ResultValue, dmarc.Policy, *store.DMARCEval) {
	rec, policyDomain, policy, err := lookupDMARC(s.s.res.LookupTXTSimple, from)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return authres.ResultNone, "", nil
	case err != nil && dmarc.IsTempFail(err):
		return authres.ResultTempError, "", nil
	case err != nil:
		return authres.ResultPermError, "", nil
	}
	spfAligned := spfRes == spf.Pass && aligned(spfDomain, from, rec.SPFAlignment)
	dkimAligned := false
	for _, d := range dkimPass {
		if aligned(d, from, rec.DKIMAlignment) {
			dkimAligned = true
		}
	}
	var ev *store.DMARCEval
	if len(rec.ReportURIAggregate) > 0 && s.s.cfg.DMARCEvals != nil {
		ev = &store.DMARCEval{PolicyDomain: policyDomain, Policy: publishedOf(policyDomain, rec), RUA: rec.ReportURIAggregate,
			SourceIP: s.ip, HeaderFrom: strings.ToLower(from), EnvelopeFrom: strings.ToLower(spfDomain),
			SPFAligned: spfAligned, DKIMAligned: dkimAligned,
			SPF: reports.SPFAuthResult{Domain: strings.ToLower(spfDomain), Scope: "mfrom", Result: spfReportResult(spfRes)}}
		if s.from == "" {
			ev.SPF.Scope = "helo"
		}
	}
	if spfAligned || dkimAligned {
		return authres.ResultPass, "", ev
	}
	return authres.ResultFail, policy, ev
}

// publishedOf is a DMARC record as a report's policy_published.
func publishedOf(domain string, rec *dmarc.Record) reports.PolicyPublished {
	p := reports.PolicyPublished{Domain: domain, ADKIM: "r", ASPF: "r", P: string(rec.Policy), SP: string(rec.SubdomainPolicy), Pct: "100"}
	if rec.DKIMAlignment == dmarc.AlignmentStrict {
		p.ADKIM = "s"
	}
	if rec.SPFAlignment == dmarc.AlignmentStrict {
		p.ASPF = "s"
	}
	if rec.Percent != nil {
		p.Pct = strconv.Itoa(*rec.Percent)
	}
	return p
}

// spfReportResult and dkimReportResult are results in the report
// schema's words (RFC 7489 Appendix C).
func spfReportResult(r spf.Result) string {
	switch r {
	case spf.Pass, spf.Fail, spf.SoftFail, spf.Neutral, spf.TempError, spf.PermError:
		return string(r)
	}
	return "none"
}

func dkimReportResult(r authres.ResultValue) string {
	switch r {
	case authres.ResultPass, authres.ResultFail, authres.ResultNeutral, authres.ResultTempError, authres.ResultPermError, authres.ResultPolicy:
		return string(r)
	}
	return "none"
}

// dmarcRank orders outcomes from best to worst, for several author domains.
func dmarcRank(r authres.ResultValue, p dmarc.Policy) int {
	switch {
	case r == authres.ResultFail && p == dmarc.PolicyReject:
		return 6
	case r == authres.ResultFail && p == dmarc.PolicyQuarantine:
		return 5
	case r == authres.ResultFail:
		return 4
	case r == authres.ResultTempError, r == authres.ResultPermError:
		return 3
	case r == authres.ResultNone:
		return 2
	case r == authres.ResultPass:
		return 1
	}
	return 0
}

// lookupDMARC finds the record of domain or of its organizational domain
// (whose sp= then applies), and the policy that applies to domain.
func lookupDMARC(lookup func(string) ([]string, error), domain string) (*dmarc.Record, string, dmarc.Policy, error) {
	opts := &dmarc.LookupOptions{LookupTXT: lookup}
	domain = strings.ToLower(domain)
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if err == nil {
		return rec, domain, rec.Policy, nil
	}
	org := orgDomain(domain)
	if !errors.Is(err, dmarc.ErrNoPolicy) || org == domain {
		return nil, "", "", err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	if err != nil {
		return nil, "", "", err
	}
	if rec.SubdomainPolicy != "" {
		return rec, org, rec.SubdomainPolicy, nil
	}
	return rec, org, rec.Policy, nil
}
