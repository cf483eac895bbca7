package cli

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthCommands answer the container's health check.
func healthCommands() []Command {
	return []Command{
		{Words: "healthcheck", Usage: "  (exit 0 when the server answers /healthz on --https)", NArgs: [2]int{0, 0}, Local: true, NoStore: true, Run: cmdHealthcheck},
	}
}

// cmdHealthcheck asks the running server's web listener for /healthz. It
// is the container's HEALTHCHECK (the image has no curl).
func cmdHealthcheck(e *Env) error {
	addr := e.Cfg.HTTPS
	if addr == "" {
		// No web listener: a server that answers its control socket is up.
		if !serverRunning(e.Cfg.Data) {
			return fmt.Errorf("healthcheck: no server answers on %s", SocketPath(e.Cfg.Data))
		}
		fmt.Fprintln(e.Out, "ok: the server answers on its control socket (--https is off)")
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: --https %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The server's own certificate is checked by its users; here the
		// question is only whether it answers.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := "https://" + net.JoinHostPort(host, port) + "/healthz"
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s: %s", resp.Status, body)
	}
	fmt.Fprintf(e.Out, "healthy: %s answered %s\n", url, strings.TrimSpace(string(body)))
	return nil
}
