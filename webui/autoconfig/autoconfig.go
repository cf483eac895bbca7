// Package autoconfig lets mail clients set themselves up from an address
// and a password. One http.Handler answers:
//
//   - Thunderbird: GET /.well-known/autoconfig/mail/config-v1.1.xml and,
//     on the autoconfig.<domain> host, GET /mail/config-v1.1.xml
//     (the "emailaddress" query parameter, else the Host, names the domain);
//   - Outlook: POST /autodiscover/autodiscover.xml (any case), the
//     "outlook" request schema of 2006;
//   - Apple Mail, iOS and macOS: GET /.well-known/autoconfig/apple.mobileconfig
//     ?emailaddress=..., an unsigned configuration profile (no password in
//     it; the device asks for it).
//
// Every answer lists the ports the server really listens on, read at
// request time, preferring implicit TLS (993, 465) over STARTTLS (143,
// 587), as RFC 8314 recommends. Only hosted domains get an answer; the
// answer never depends on whether the user exists, so it reveals no
// accounts. The user name is always the full address (a domain login is
// for sending only and has no mailbox to configure).
package autoconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/authsmtp/authsmtp/store"
)

// Ports are the mail listeners' ports; 0 means that listener is off.
type Ports struct {
	IMAP        int // STARTTLS
	IMAPS       int // implicit TLS
	Submission  int // STARTTLS
	Submissions int // implicit TLS
}

// Config is what the handler needs from the server.
type Config struct {
	// Hostname is the name clients connect to (the server's certificate name).
	Hostname string
	// Ports returns the ports listened on now.
	Ports func() Ports
	// Hosted reports whether the server hosts an (A-label) domain.
	Hosted func(domain string) bool
	// Logger gets one line per bad request; nil: slog.Default().
	Logger *slog.Logger
}

// maxBody bounds an autodiscover request; real ones are under 1 KiB.
const maxBody = 16 << 10

type handler struct{ cfg Config }

// New returns the handler. Mount it on the paths listed in the package doc.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &handler{cfg: cfg}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.ToLower(r.URL.Path)
	switch {
	case p == "/.well-known/autoconfig/mail/config-v1.1.xml" || p == "/mail/config-v1.1.xml":
		h.thunderbird(w, r)
	case p == "/autodiscover/autodiscover.xml":
		h.autodiscover(w, r)
	case p == "/.well-known/autoconfig/apple.mobileconfig":
		h.apple(w, r)
	default:
		http.NotFound(w, r)
	}
}

// account works out the address and domain a request is about. address
// is "" when only the domain is known (Thunderbird by Host).
func (h *handler) account(r *http.Request, address string) (addr, domain string, status int, err error) {
	if address = strings.TrimSpace(address); address != "" {
		addr, err = store.NormalizeAddress(address)
		if err != nil {
			return "", "", http.StatusBadRequest, fmt.Errorf("bad address: %v", err)
		}
		domain = store.DomainOf(addr)
	} else {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		rest, ok := strings.CutPrefix(strings.ToLower(host), "autoconfig.")
		if !ok {
			return "", "", http.StatusBadRequest, fmt.Errorf("no emailaddress parameter and no autoconfig.<domain> host")
		}
		if domain, err = store.NormalizeDomain(rest); err != nil {
			return "", "", http.StatusBadRequest, fmt.Errorf("bad domain: %v", err)
		}
	}
	if !h.cfg.Hosted(domain) {
		return "", "", http.StatusNotFound, fmt.Errorf("domain %s is not hosted here", domain)
	}
	return addr, domain, 0, nil
}

// fail logs why a request was refused and answers with a fixed text for
// the status, never echoing the request.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.cfg.Logger.Info("autoconfig request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
	msg := map[int]string{
		http.StatusBadRequest:            "bad request: an autoconfiguration request needs a valid email address of a domain hosted here",
		http.StatusNotFound:              "no configuration for that domain here",
		http.StatusRequestEntityTooLarge: "request too large",
	}[status]
	if msg == "" {
		msg = http.StatusText(status)
	}
	http.Error(w, msg, status)
}

func writeXML(w http.ResponseWriter, contentType string, v any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encoding the answer failed", http.StatusInternalServerError)
		return
	}
	b.WriteByte('\n')
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// ---- Thunderbird ----

type tbServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Auth     string `xml:"authentication"`
	Username string `xml:"username"`
}

type tbConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID        string     `xml:"id,attr"`
		Domain    string     `xml:"domain"`
		Name      string     `xml:"displayName"`
		ShortName string     `xml:"displayShortName"`
		Incoming  []tbServer `xml:"incomingServer"`
		Outgoing  []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func (h *handler) thunderbird(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	_, domain, status, err := h.account(r, r.URL.Query().Get("emailaddress"))
	if err != nil {
		h.fail(w, r, status, err)
		return
	}
	p := h.cfg.Ports()
	var c tbConfig
	c.Version = "1.1"
	c.Provider.ID = domain
	c.Provider.Domain = domain
	c.Provider.Name = domain + " mail"
	c.Provider.ShortName = domain
	srv := func(typ string, port int, socket string) tbServer {
		return tbServer{Type: typ, Hostname: h.cfg.Hostname, Port: port, Socket: socket, Auth: "password-cleartext", Username: "%EMAILADDRESS%"}
	}
	if p.IMAPS != 0 {
		c.Provider.Incoming = append(c.Provider.Incoming, srv("imap", p.IMAPS, "SSL"))
	}
	if p.IMAP != 0 {
		c.Provider.Incoming = append(c.Provider.Incoming, srv("imap", p.IMAP, "STARTTLS"))
	}
	if p.Submissions != 0 {
		c.Provider.Outgoing = append(c.Provider.Outgoing, srv("smtp", p.Submissions, "SSL"))
	}
	if p.Submission != 0 {
		c.Provider.Outgoing = append(c.Provider.Outgoing, srv("smtp", p.Submission, "STARTTLS"))
	}
	writeXML(w, "application/xml; charset=utf-8", c)
}

// ---- Outlook ----

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress   string `xml:"EMailAddress"`
		ResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string       `xml:"AccountType"`
			Action      string       `xml:"Action"`
			Protocols   []adProtocol `xml:"Protocol"`
		} `xml:"Account"`
	}
}

func (h *handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST with an autodiscover request", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err))
		return
	}
	if len(body) > maxBody {
		h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("request over %d bytes", maxBody))
		return
	}
	var req adRequest
	// encoding/xml never fetches external entities nor expands internal
	// ones beyond the five predefined: entity tricks fail to decode.
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(&req); err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("bad autodiscover request: %v", err))
		return
	}
	if req.Request.EMailAddress == "" {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("no EMailAddress in the request"))
		return
	}
	addr, _, status, err := h.account(r, req.Request.EMailAddress)
	if err != nil {
		h.fail(w, r, status, err)
		return
	}
	p := h.cfg.Ports()
	var resp adResponse
	a := &resp.Response.Account
	a.AccountType, a.Action = "email", "settings"
	proto := func(typ string, port int, enc string) adProtocol {
		return adProtocol{Type: typ, Server: h.cfg.Hostname, Port: port, DomainRequired: "off", LoginName: addr,
			SPA: "off", SSL: "on", Encryption: enc, AuthRequired: "on"}
	}
	switch {
	case p.IMAPS != 0:
		a.Protocols = append(a.Protocols, proto("IMAP", p.IMAPS, "SSL"))
	case p.IMAP != 0:
		a.Protocols = append(a.Protocols, proto("IMAP", p.IMAP, "TLS"))
	}
	switch {
	case p.Submissions != 0:
		a.Protocols = append(a.Protocols, proto("SMTP", p.Submissions, "SSL"))
	case p.Submission != 0:
		a.Protocols = append(a.Protocols, proto("SMTP", p.Submission, "TLS"))
	}
	writeXML(w, "application/xml; charset=utf-8", resp)
}

// ---- Apple ----

func (h *handler) apple(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query().Get("emailaddress")
	if q == "" {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("no emailaddress parameter"))
		return
	}
	addr, _, status, err := h.account(r, q)
	if err != nil {
		h.fail(w, r, status, err)
		return
	}
	p := h.cfg.Ports()
	inPort, outPort := p.IMAPS, p.Submissions
	if inPort == 0 {
		inPort = p.IMAP // Apple's "use SSL" on 143 means STARTTLS
	}
	if outPort == 0 {
		outPort = p.Submission
	}
	if inPort == 0 || outPort == 0 {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("IMAP or submission is off on this server"))
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(addr)+`.mobileconfig"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(mobileconfig(h.cfg.Hostname, addr, inPort, outPort))
}

// safeFileName keeps letters, digits and a few marks of an address.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, s)
}

// uuidFor derives a stable UUID (version 5 layout) from its inputs, so the
// same profile downloaded twice replaces itself instead of adding a copy.
func uuidFor(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// plist writes property list entries at one indentation; every string
// goes through the XML escaper.
type plist struct {
	b      *bytes.Buffer
	indent string
}

func (p plist) str(k, v string) {
	fmt.Fprintf(p.b, "%s<key>%s</key>\n%s<string>", p.indent, k, p.indent)
	xml.EscapeText(p.b, []byte(v))
	p.b.WriteString("</string>\n")
}

func (p plist) num(k string, v int) {
	fmt.Fprintf(p.b, "%s<key>%s</key>\n%s<integer>%d</integer>\n", p.indent, k, p.indent, v)
}

func (p plist) boolean(k string, v bool) {
	fmt.Fprintf(p.b, "%s<key>%s</key>\n%s<%t/>\n", p.indent, k, p.indent, v)
}

// mobileconfig is an unsigned configuration profile with one IMAP account.
func mobileconfig(host, addr string, inPort, outPort int) []byte {
	var b bytes.Buffer
	rev := strings.Split(host, ".")
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	ident := strings.Join(rev, ".") + ".authsmtp." + strings.ReplaceAll(safeFileName(addr), "@", ".")
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n")
	acct := plist{&b, "\t\t\t"}
	acct.str("EmailAccountDescription", addr)
	acct.str("EmailAccountType", "EmailTypeIMAP")
	acct.str("EmailAddress", addr)
	acct.str("IncomingMailServerAuthentication", "EmailAuthPassword")
	acct.str("IncomingMailServerHostName", host)
	acct.num("IncomingMailServerPortNumber", inPort)
	acct.boolean("IncomingMailServerUseSSL", true)
	acct.str("IncomingMailServerUsername", addr)
	acct.str("OutgoingMailServerAuthentication", "EmailAuthPassword")
	acct.str("OutgoingMailServerHostName", host)
	acct.num("OutgoingMailServerPortNumber", outPort)
	acct.boolean("OutgoingMailServerUseSSL", true)
	acct.str("OutgoingMailServerUsername", addr)
	acct.boolean("OutgoingPasswordSameAsIncomingPassword", true)
	acct.str("PayloadDescription", "Mail account "+addr)
	acct.str("PayloadDisplayName", addr)
	acct.str("PayloadIdentifier", ident+".mail")
	acct.str("PayloadType", "com.apple.mail.managed")
	acct.str("PayloadUUID", uuidFor(host, addr, "mail"))
	acct.num("PayloadVersion", 1)
	b.WriteString("\t\t</dict>\n\t</array>\n")
	top := plist{&b, "\t"}
	top.str("PayloadDisplayName", "Mail for "+addr)
	top.str("PayloadIdentifier", ident)
	top.boolean("PayloadRemovalDisallowed", false)
	top.str("PayloadType", "Configuration")
	top.str("PayloadUUID", uuidFor(host, addr))
	top.num("PayloadVersion", 1)
	b.WriteString("</dict>\n</plist>\n")
	return b.Bytes()
}
