package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mtasts"
	"github.com/authsmtp/authsmtp/store"
)

// MTA-STS (RFC 8461): a domain that publishes _mta-sts TXT and a policy
// at https://mta-sts.<domain>/.well-known/mta-sts.txt in "enforce" mode
// gets its mail only over TLS with a certificate valid for an MX host the
// policy names; otherwise delivery is opportunistic. Policies are cached
// for their max_age (and refetched when the TXT id changes).

// stsPolicy is a fetched policy, parsed by smtp/mtasts (the one strict
// parser for our policies and theirs), with its id and expiry.
type stsPolicy struct {
	mtasts.Policy
	id  string
	exp time.Time
}

func (p *stsPolicy) matches(host string) bool { return p.Matches(host) }

type stsCache struct {
	mu sync.Mutex
	m  map[string]*stsPolicy
}

// stsPolicyFor returns the domain's policy, or nil when it has none (or
// it cannot be fetched: RFC 8461 §5 then falls back to opportunistic TLS,
// unless a cached policy is still valid). A policy announced in DNS that
// could not be fetched or parsed is also reported as a TLSRPT failure.
func (r *Runner) stsPolicyFor(ctx context.Context, domain string) *stsPolicy {
	if r.cfg.NoMTASTS {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r.sts.mu.Lock()
	cached := r.sts.m[domain]
	r.sts.mu.Unlock()
	txts, err := r.cfg.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	id := ""
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1") {
			for _, f := range strings.Split(t, ";") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(f), "id="); ok {
					id = v
				}
			}
		}
	}
	if cached != nil && time.Now().Before(cached.exp) && (id == "" || id == cached.id) {
		return cached
	}
	if id == "" {
		if err != nil && !dnsx.IsNotFound(err) && cached != nil && time.Now().Before(cached.exp) {
			return cached
		}
		return nil
	}
	p, err := r.fetchSTS(ctx, domain)
	if err != nil {
		r.log.Info("MTA-STS policy not fetched", "domain", domain, "err", err)
		result := "sts-policy-fetch-error"
		var inv *mtasts.InvalidError
		if errors.As(err, &inv) {
			result = "sts-policy-invalid"
		}
		r.reportTLS(store.TLSResult{Domain: domain, PolicyType: "sts", Result: result})
		if cached != nil && time.Now().Before(cached.exp) {
			return cached
		}
		return nil
	}
	p.id = id
	r.sts.mu.Lock()
	if r.sts.m == nil || len(r.sts.m) > 10000 {
		r.sts.m = map[string]*stsPolicy{}
	}
	r.sts.m[domain] = p
	r.sts.mu.Unlock()
	return p
}

// fetchSTS gets and parses the policy over verified HTTPS, resolving the
// host through the one resolver; redirects are not followed (§3.3).
func (r *Runner) fetchSTS(ctx context.Context, domain string) (*stsPolicy, error) {
	host := "mta-sts." + domain
	port := r.cfg.STSPort
	if port == 0 {
		port = 443
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			ips, err := r.cfg.Resolver.LookupHost(ctx, host)
			if err != nil {
				return nil, err
			}
			return dnsx.DialFirst(ctx, network, ips, strconv.Itoa(port))
		},
		TLSClientConfig:   &tls.Config{ServerName: host, RootCAs: r.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	p, _, err := mtasts.Fetch(ctx, &http.Client{Transport: tr, Timeout: 30 * time.Second}, domain)
	if err != nil {
		return nil, err
	}
	return &stsPolicy{Policy: p, exp: time.Now().Add(time.Duration(p.MaxAge) * time.Second)}, nil
}
