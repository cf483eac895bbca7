package serve

import (
	"net"
	"net/http"
	"strconv"

	"github.com/authsmtp/authsmtp/internal/dnsrecords"
	"github.com/authsmtp/authsmtp/webui/autoconfig"
)

// autoconfigHandler answers mail clients' autoconfiguration on the web
// listener, advertising the ports the mail listeners really got.
func (srv *server) autoconfigHandler() http.Handler {
	return autoconfig.New(autoconfig.Config{
		Hostname: srv.cfg.Hostname,
		Ports:    srv.mailPorts,
		Hosted:   srv.st.IsHosted,
		Logger:   srv.log.With("service", "autoconfig"),
	})
}

// mailPorts reads the listening mail ports (0 for a listener that is off).
func (srv *server) mailPorts() autoconfig.Ports {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	port := func(name string) int {
		_, p, err := net.SplitHostPort(srv.addrs[name])
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(p)
		return n
	}
	return autoconfig.Ports{IMAP: port("imap"), IMAPS: port("imaps"), Submission: port("submission"), Submissions: port("submissions")}
}

// ServedPorts are the ports the DNS records name (`domain dns`, the
// panel's DNS page): those listened on now, 0 for a listener that is off.
func (srv *server) ServedPorts() dnsrecords.Ports {
	p := srv.mailPorts()
	srv.mu.Lock()
	https := srv.addrs["https"]
	srv.mu.Unlock()
	return dnsrecords.Ports{Submission: p.Submission, Submissions: p.Submissions, IMAP: p.IMAP, IMAPS: p.IMAPS, HTTPS: dnsrecords.PortOf(https)}
}
