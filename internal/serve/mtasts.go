package serve

import (
	"net"
	"net/http"
	"strings"

	"github.com/authsmtp/authsmtp/smtp/mtasts"
)

// mtaSTSPath is where senders fetch a domain's policy (RFC 8461 §3.3).
const mtaSTSPath = "/.well-known/mta-sts.txt"

// mtaSTSHandler serves https://mta-sts.<domain>/.well-known/mta-sts.txt
// for every hosted domain, the Host header naming the domain; any other
// host gets 404 on that path. Other paths go to next (the web UI).
func (srv *server) mtaSTSHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != mtaSTSPath {
			next.ServeHTTP(w, r)
			return
		}
		pol, ok := srv.mtaSTSPolicy(r.Host)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write([]byte(pol.Text()))
	})
}

// mtaSTSPolicy is the policy for the domain of an mta-sts.<domain> Host.
func (srv *server) mtaSTSPolicy(hostHeader string) (mtasts.Policy, bool) {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	domain, ok := strings.CutPrefix(host, "mta-sts.")
	if !ok || domain == "" {
		return mtasts.Policy{}, false
	}
	d, err := srv.st.GetDomain(domain)
	if err != nil || d.Name != domain {
		return mtasts.Policy{}, false
	}
	mx := strings.TrimSuffix(srv.cfg.Hostname, ".")
	if mx == "" {
		mx = "mail." + domain
	}
	return mtasts.For(d.MTASTSMode, mx), true
}
