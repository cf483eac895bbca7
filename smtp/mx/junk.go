package mx

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
)

// scoreJunk runs each local recipient's junk filter on the stamped
// message: the verdict goes in X-Spam-Score and X-Spam-Status on that
// recipient's copy, and in an Authentication-Results field of its own
// (junk.ARMethod; the shared field above is the same for every copy), and spam goes to the recipient's Junk folder unless
// the sender is a verified correspondent of the recipient (reputation:
// the Bayes verdict alone never junks mail from someone the user writes
// to). A recipient whose filter is not trained yet gets the message as
// is. It returns how many copies went to Junk on the filter's verdict.
//
// The DNS lists weigh in too: a client on an allowlist counts as a known
// sender, and one on a blocklist in "junk" mode sends to Junk whatever
// the filter says.
func (s *session) scoreJunk(local []store.LocalRcpt, stamped []byte, v verdict, from string) int {
	lists := s.checkDNSLists()
	if len(local) == 0 || (s.s.cfg.NoJunkFilter && lists.junk == "") {
		return 0
	}
	f := s.s.cfg.Junk
	var toks []string
	if !s.s.cfg.NoJunkFilter {
		for _, l := range local {
			if f.Ready(l.Address) {
				toks = junk.Tokenize(stamped) // only when someone's filter decides
				break
			}
		}
	}
	sender, dkimDomain := s.verifiedSender(v, from)
	junked := 0
	for i := range local {
		l := &local[i]
		var jv junk.Verdict
		if toks != nil {
			var err error
			if jv, err = f.Classify(l.Address, toks); err != nil {
				s.log.Error("mx junk filter", "rcpt", l.Address, "err", err)
			}
		}
		if jv.Model == "" && lists.junk == "" {
			continue // untrained and unlisted: nothing decided
		}
		status, note := "No", ""
		spam := jv.Spam
		switch {
		case lists.junk != "":
			spam = true
			note = " dnsbl=" + lists.junk
		case spam && lists.allow != "":
			spam = false
			note = " dnswl=" + lists.allow
		case spam:
			known, err := f.Known(l.Address, sender, dkimDomain)
			if err != nil {
				s.log.Error("mx junk filter contacts", "rcpt", l.Address, "err", err)
			}
			if known {
				spam = false
				note = " reputation=known-sender"
			}
		}
		if jv.Spam || spam {
			status = "Yes"
		}
		if spam && (l.Mailbox == "" || strings.EqualFold(l.Mailbox, "INBOX")) {
			l.Mailbox = "Junk"
			junked++
		}
		model := jv.Model
		if model == "" {
			model = "untrained"
		}
		l.Header = fmt.Appendf(nil, "Authentication-Results: %s\r\nX-Spam-Score: %.3f\r\nX-Spam-Status: %s, score=%.3f threshold=%.2f model=%s clues=%d%s\r\n",
			foldAR(s.junkResult(spam, jv.Score, model, note)), jv.Score, status, jv.Score, f.Config().Threshold, model, jv.Clues, note)
	}
	return junked
}

// junkResult is a recipient's verdict as an Authentication-Results
// value (junk.ARMethod): what was done with the copy (spam or ham), the
// filter's score and model as policy properties, and the DNS list or
// the sender's reputation that overrode the filter, if one did, as one
// more (policy.dnsbl, policy.dnswl, policy.reputation). Every value is
// a token, so go-msgauth's authres.Parse reads it back as written.
func (s *session) junkResult(spam bool, score float64, model, note string) string {
	r := &authres.GenericResult{Method: junk.ARMethod, Value: "ham", Params: map[string]string{
		"policy.score": fmt.Sprintf("%.3f", score),
		"policy.model": model,
	}}
	if spam {
		r.Value = "spam"
	}
	if k, v, ok := strings.Cut(strings.TrimSpace(note), "="); ok {
		r.Params["policy."+k] = v // e.g. policy.reputation=known-sender, policy.dnsbl=ZONE
	}
	return authres.Format(s.s.cfg.Hostname, []authres.Result{r})
}

// verifiedSender returns the From: address when something vouches for
// its domain (DMARC pass, an aligned DKIM signature, or SPF passing for
// the same organizational domain), and the aligned DKIM domain ("" for
// none). Unverified From: addresses earn no reputation: anyone can write
// a friend's address there.
func (s *session) verifiedSender(v verdict, from string) (string, string) {
	if v.fromDomain == "" {
		return "", ""
	}
	dkimDomain := ""
	spfOK := false
	for _, r := range v.results {
		switch r := r.(type) {
		case *authres.DKIMResult:
			if r.Value == authres.ResultPass && orgDomain(r.Domain) == orgDomain(v.fromDomain) {
				dkimDomain = strings.ToLower(v.fromDomain)
			}
		case *authres.SPFResult:
			spfOK = r.Value == authres.ResultPass && orgDomain(store.DomainOf(r.From)) == orgDomain(v.fromDomain)
		}
	}
	if v.dmarc == authres.ResultPass || dkimDomain != "" || spfOK {
		return from, dkimDomain
	}
	return "", ""
}
