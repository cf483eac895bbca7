package queue

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// A small SMTP client for delivery. go-smtp's client cannot choose its
// EHLO name and also start TLS only when offered, and delivery needs
// both: the name is checked by receivers, and STARTTLS is opportunistic.

// Reply is one SMTP reply.
type Reply struct {
	Code int
	Text string // lines joined with "; "
}

func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// Temporary and Permanent classify the reply code.
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }
func (r Reply) Permanent() bool { return r.Code >= 500 }
func (r Reply) OK() bool        { return r.Code >= 200 && r.Code < 300 }

// errTLS is a failed TLS handshake after STARTTLS: opportunistic delivery
// connects again without TLS.
var errTLS = errors.New("TLS handshake failed")

// errNoSTARTTLS is a server without STARTTLS where a policy requires TLS.
var errNoSTARTTLS = errors.New("the server offers no STARTTLS")

type client struct {
	conn    net.Conn
	tp      *textproto.Conn
	ext     map[string]string
	host    string
	tls     bool
	timeout time.Duration
	stops   []func() bool // context.AfterFunc registrations to drop on close
}

type dialOpts struct {
	helo        string
	host        string // name for SNI and certificate checks
	implicitTLS bool
	startTLS    bool        // use STARTTLS when offered
	requireTLS  string      // why TLS is mandatory (MTA-STS, DANE); "": opportunistic
	tlsConfig   *tls.Config // nil: opportunistic, any certificate
	timeout     time.Duration
}

func (o dialOpts) tlsConf() *tls.Config {
	if o.tlsConfig != nil {
		c := o.tlsConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = o.host
		}
		return c
	}
	// Opportunistic TLS (RFC 7435): encrypt when we can, even if the
	// certificate cannot be verified; an MX has no policy saying otherwise.
	return &tls.Config{ServerName: o.host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
}

// dial connects to addr (ip:port), reads the greeting and says EHLO,
// starting TLS when asked and offered.
func dial(ctx context.Context, addr string, o dialOpts) (_ *client, err error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = &connError{local: conn.LocalAddr().String(), err: err}
		}
	}()
	if o.implicitTLS {
		tc := tls.Client(conn, o.tlsConf())
		tc.SetDeadline(time.Now().Add(o.timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: %v", errTLS, err)
		}
		conn = tc
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn), host: o.host, tls: o.implicitTLS, timeout: o.timeout}
	// Closing the connection when ctx ends stops a delivery on shutdown.
	c.stops = append(c.stops, context.AfterFunc(ctx, func() { conn.Close() }))
	r, err := c.read()
	if err != nil {
		c.close()
		return nil, err
	}
	if r.Code != 220 {
		c.close()
		return nil, &ReplyError{Stage: "greeting", Reply: r}
	}
	if err := c.hello(o.helo); err != nil {
		c.close()
		return nil, err
	}
	if _, ok := c.ext["STARTTLS"]; !ok && o.requireTLS != "" && !c.tls {
		c.close()
		return nil, fmt.Errorf("%s: %w", o.requireTLS, errNoSTARTTLS)
	}
	if _, ok := c.ext["STARTTLS"]; ok && o.startTLS && !c.tls {
		r, err := c.cmd("STARTTLS")
		if err != nil {
			c.close()
			return nil, err
		}
		if r.Code != 220 {
			c.close()
			return nil, fmt.Errorf("%w: STARTTLS: %s", errTLS, r)
		}
		tc := tls.Client(conn, o.tlsConf())
		tc.SetDeadline(time.Now().Add(o.timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.close()
			return nil, fmt.Errorf("%w: %w", errTLS, err)
		}
		c.conn, c.tp, c.tls = tc, textproto.NewConn(tc), true
		c.stops = append(c.stops, context.AfterFunc(ctx, func() { tc.Close() }))
		if err := c.hello(o.helo); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// connError is a failure once connected; it keeps our address for TLS
// reports (sending-mta-ip).
type connError struct {
	local string
	err   error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// ReplyError is a reply that ends a connection-level step.
type ReplyError struct {
	Stage string
	Reply Reply
}

func (e *ReplyError) Error() string { return e.Stage + ": " + e.Reply.String() }

func (c *client) read() (Reply, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Code: code, Text: strings.ReplaceAll(msg, "\n", "; ")}, nil
}

func (c *client) cmd(format string, args ...any) (Reply, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return Reply{}, err
	}
	return c.read()
}

func (c *client) hello(name string) error {
	r, err := c.cmd("EHLO %s", name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	if r.Code == 250 {
		lines := strings.Split(r.Text, "; ")
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, " ")
			c.ext[strings.ToUpper(k)] = v
		}
		return nil
	}
	r, err = c.cmd("HELO %s", name)
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return &ReplyError{Stage: "HELO", Reply: r}
	}
	return nil
}

// auth logs in with AUTH PLAIN; only ever over TLS.
func (c *client) auth(user, pass string) error {
	if !c.tls {
		return errors.New("the relay offers no TLS: refusing to send the password in clear")
	}
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	r, err := c.cmd("AUTH PLAIN %s", resp)
	if err != nil {
		return err
	}
	if r.Code != 235 {
		return &ReplyError{Stage: "AUTH", Reply: r}
	}
	return nil
}

// sendResult is what the server said about one message.
type sendResult struct {
	Mail  Reply
	Rcpts []Reply // one per recipient, same order
	Data  Reply   // zero when DATA was not reached
}

// send runs one transaction. An error means the connection is unusable;
// the replies gathered so far are still returned.
func (c *client) send(from string, rcpts []string, body []byte) (sendResult, error) {
	var res sendResult
	params := ""
	if _, ok := c.ext["SIZE"]; ok {
		params += " SIZE=" + strconv.Itoa(len(body))
	}
	if _, ok := c.ext["8BITMIME"]; ok && has8bit(body) {
		params += " BODY=8BITMIME"
	}
	r, err := c.cmd("MAIL FROM:<%s>%s", from, params)
	if err != nil {
		return res, err
	}
	res.Mail = r
	if !r.OK() {
		c.cmd("RSET")
		return res, nil
	}
	accepted := 0
	for _, to := range rcpts {
		r, err := c.cmd("RCPT TO:<%s>", to)
		if err != nil {
			return res, err
		}
		res.Rcpts = append(res.Rcpts, r)
		if r.OK() {
			accepted++
		}
	}
	if accepted == 0 {
		c.cmd("RSET")
		return res, nil
	}
	r, err = c.cmd("DATA")
	if err != nil {
		return res, err
	}
	if r.Code != 354 {
		res.Data = r
		c.cmd("RSET")
		return res, nil
	}
	// The body is stored with CRLF line ends; DotWriter dot-stuffs it and
	// writes the final CRLF.CRLF.
	c.conn.SetDeadline(time.Now().Add(4 * c.timeout))
	w := c.tp.DotWriter()
	if _, err := w.Write(body); err != nil {
		return res, err
	}
	if err := w.Close(); err != nil {
		return res, err
	}
	r, err = c.read()
	if err != nil {
		return res, err
	}
	res.Data = r
	return res, nil
}

func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.cmd("QUIT")
	c.close()
}

func (c *client) close() {
	for _, stop := range c.stops {
		stop()
	}
	c.conn.Close()
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
