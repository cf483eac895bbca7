package mx

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
)

// verdict is what the authentication checks concluded.
type verdict struct {
	results    []authres.Result
	fromDomain string
	dmarc      authres.ResultValue
	policy     dmarc.Policy // of the From: domain, when DMARC failed
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
	ctx, cancel := context.WithTimeout(s.s.ctx, 30*time.Second)
	defer cancel()
	res := s.s.res
	helo := s.c.Hostname()
	var v verdict

	// SPF (RFC 7208) on MAIL FROM, or on the HELO name for <>.
	spfDomain := store.DomainOf(s.from)
	sender := s.from
	if s.from == "" {
		spfDomain, sender = helo, "postmaster@"+helo
	}
	spfRes, _ := spf.CheckHostWithSender(net.ParseIP(s.ip), helo, sender, spf.WithResolver(res), spf.WithContext(ctx))
	v.results = append(v.results, &authres.SPFResult{Value: authres.ResultValue(spfRes), From: s.from, Helo: helo})

	// DKIM (RFC 6376): every signature, a few at most.
	var dkimPass []string
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
		r, p := s.dmarcOne(from, spfRes, spfDomain, dkimPass)
		v.results = append(v.results, &authres.DMARCResult{Value: r, From: from})
		if v.fromDomain == "" || dmarcRank(r, p) > dmarcRank(v.dmarc, v.policy) {
			v.fromDomain, v.dmarc, v.policy = from, r, p
		}
	}
	return v
}

// dmarcOne evaluates DMARC for one author domain; the policy is set only
// when the result is fail.
func (s *session) dmarcOne(from string, spfRes spf.Result, spfDomain string, dkimPass []string) (authres.ResultValue, dmarc.Policy) {
	rec, policy, err := lookupDMARC(s.s.res.LookupTXTSimple, from)
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return authres.ResultNone, ""
	case err != nil && dmarc.IsTempFail(err):
		return authres.ResultTempError, ""
	case err != nil:
		return authres.ResultPermError, ""
	}
	if spfRes == spf.Pass && aligned(spfDomain, from, rec.SPFAlignment) {
		return authres.ResultPass, ""
	}
	for _, d := range dkimPass {
		if aligned(d, from, rec.DKIMAlignment) {
			return authres.ResultPass, ""
		}
	}
	return authres.ResultFail, policy
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
func lookupDMARC(lookup func(string) ([]string, error), domain string) (*dmarc.Record, dmarc.Policy, error) {
	opts := &dmarc.LookupOptions{LookupTXT: lookup}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if err == nil {
		return rec, rec.Policy, nil
	}
	org := orgDomain(domain)
	if !errors.Is(err, dmarc.ErrNoPolicy) || org == domain {
		return nil, "", err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	if err != nil {
		return nil, "", err
	}
	if rec.SubdomainPolicy != "" {
		return rec, rec.SubdomainPolicy, nil
	}
	return rec, rec.Policy, nil
}
