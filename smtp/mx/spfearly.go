package mx

import (
	"context"
	"net"
	"time"

	"blitiri.com.ar/go/spf"

	"github.com/authsmtp/authsmtp/store"
)

// SPF needs only the client's address, its HELO name and the envelope
// sender, all known at MAIL FROM; its lookups (often several: include:,
// a, mx) cost real round trips for a sender not in the cache. So the
// check starts at MAIL, while the client sends RCPT and the data, and
// DATA only waits for what is left of it. The same goes for the DMARC
// record of the sender's domain, which is usually the From: domain's:
// its lookup is started to fill the cache.

// spfCheck is an SPF evaluation under way for one transaction.
type spfCheck struct {
	domain string // the domain checked: MAIL FROM's, or the HELO name for <>
	done   chan struct{}
	result spf.Result
	cancel context.CancelFunc
}

// startSPF starts the SPF check of MAIL FROM from (or of the HELO name
// for the null sender) in the background.
func (s *session) startSPF(from string) *spfCheck {
	helo, ip := s.c.Hostname(), net.ParseIP(s.ip)
	domain, sender := store.DomainOf(from), from
	if from == "" {
		domain, sender = helo, "postmaster@"+helo
	}
	ctx, cancel := context.WithTimeout(s.s.ctx, 30*time.Second)
	c := &spfCheck{domain: domain, done: make(chan struct{}), cancel: cancel}
	res := s.s.res
	go func() {
		defer close(c.done)
		if from != "" && res.CacheTTL > 0 {
			go res.LookupTXT(ctx, "_dmarc."+domain) // fills the cache for DMARC; the answer is not needed here
		}
		c.result, _ = spf.CheckHostWithSender(ip, helo, sender, spf.WithResolver(res), spf.WithContext(ctx))
	}()
	return c
}

// wait returns the check's result once it is over.
func (c *spfCheck) wait() spf.Result {
	<-c.done
	return c.result
}

// stop abandons the check (the transaction ended); its lookups end with it.
func (c *spfCheck) stop() {
	if c != nil {
		c.cancel()
	}
}
