package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/smtp/dnsx"
)

// MTA-STS (RFC 8461): a domain that publishes _mta-sts TXT and a policy
// at https://mta-sts.<domain>/.well-known/mta-sts.txt in "enforce" mode
// gets its mail only over TLS with a certificate valid for an MX host the
// policy names; otherwise delivery is opportunistic. Policies are cached
// for their max_age (and refetched when the TXT id changes).

type stsPolicy struct {
	id   string
	mode string // enforce, testing, none
	mx   []string
	exp  time.Time
}

// matches reports whether an MX host name fits one of the policy's
// patterns ("mail.example.com" or "*.example.com", one label).
func (p *stsPolicy) matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, m := range p.mx {
		m = strings.ToLower(m)
		if m == host {
			return true
		}
		if rest, ok := strings.CutPrefix(m, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		}
	}
	return false
}

type stsCache struct {
	mu sync.Mutex
	m  map[string]*stsPolicy
}

// stsPolicyFor returns the domain's policy, or nil when it has none (or
// it cannot be fetched: RFC 8461 §5 then falls back to opportunistic TLS,
// unless a cached policy is still valid).
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
			var d net.Dialer
			var last error
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, strconv.Itoa(port)))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
		TLSClientConfig:   &tls.Config{ServerName: host, RootCAs: r.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return parseSTS(io.LimitReader(resp.Body, 64<<10))
}

// parseSTS reads a policy file (RFC 8461 §3.2).
func parseSTS(rd io.Reader) (*stsPolicy, error) {
	p := &stsPolicy{}
	maxAge := -1
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("unknown policy version %q", v)
			}
		case "mode":
			p.mode = v
		case "mx":
			p.mx = append(p.mx, v)
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad max_age %q", v)
			}
			maxAge = min(n, 31557600)
		}
	}
	switch {
	case p.mode != "enforce" && p.mode != "testing" && p.mode != "none":
		return nil, fmt.Errorf("bad mode %q", p.mode)
	case maxAge < 0:
		return nil, errors.New("no max_age")
	case p.mode != "none" && len(p.mx) == 0:
		return nil, errors.New("no mx")
	}
	p.exp = time.Now().Add(time.Duration(maxAge) * time.Second)
	return p, nil
}
