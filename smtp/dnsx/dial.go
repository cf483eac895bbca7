package dnsx

import (
	"context"
	"errors"
	"net"
)

// DialFirst connects to port on each of ips in turn and returns the first
// connection made (the addresses a host name resolved to, best first);
// with none made, the last error.
func DialFirst(ctx context.Context, network string, ips []string, port string) (net.Conn, error) {
	var d net.Dialer
	last := errors.New("no address to dial")
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}
