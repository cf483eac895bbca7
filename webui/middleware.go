package webui

import (
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

// Content-Security-Policy of our own pages: only our own script and style;
// no inline script anywhere, so an escaping bug cannot run code.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// headers sets the security headers every response gets. Routes that
// serve mail content replace the CSP with a stricter one.
func (s *Server) headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !s.cfg.Insecure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if strings.HasPrefix(c.Request.URL.Path, "/static/") {
		// Embedded files have no modification time to revalidate with;
		// an hour keeps page loads light and upgrades visible soon.
		h.Set("Cache-Control", "public, max-age=3600")
	} else {
		h.Set("Cache-Control", "no-store") // pages hold mail and tokens
	}
	c.Next()
}

// Cookie names. __Host- makes the browser refuse the cookie unless it is
// Secure, host-only and Path=/, so a sibling subdomain cannot plant one.
func (s *Server) cookieName(base string) string {
	if s.cfg.Insecure {
		return base
	}
	return "__Host-" + base
}

const (
	cookieSession = "authsmtp"
	cookieLogin   = "authsmtp-login" // double-submit token of the login forms
	cookieFlash   = "authsmtp-flash"
)

func (s *Server) setCookie(c *gin.Context, base, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: s.cookieName(base), Value: value, Path: "/", HttpOnly: true,
		Secure: !s.cfg.Insecure, SameSite: http.SameSiteStrictMode}
	if maxAge < 0 {
		ck.MaxAge = -1
	} else if maxAge > 0 {
		ck.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(c.Writer, ck)
}

func (s *Server) cookie(c *gin.Context, base string) string {
	ck, err := c.Request.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	return ck.Value
}

// session loads the server-side session named by the cookie, if any.
func (s *Server) session(c *gin.Context) {
	if id := s.cookie(c, cookieSession); id != "" && len(id) < 100 {
		if sess, ok := s.st.GetSession(id); ok {
			c.Set("sess", &sess)
		}
	}
	c.Next()
}

func sessionOf(c *gin.Context) *store.Session {
	if v, ok := c.Get("sess"); ok {
		return v.(*store.Session)
	}
	return nil
}

// requireAdmin lets only admin sessions through. A browser without a
// session is sent to the login form; a mail session gets 403.
func (s *Server) requireAdmin(c *gin.Context) {
	sess := sessionOf(c)
	switch {
	case sess == nil:
		s.needLogin(c, "/admin/login")
	case sess.Kind != store.KindAdmin:
		s.errorPage(c, http.StatusForbidden, "You are signed in as "+sess.Login+". The admin panel needs the admin login.")
		c.Abort()
	default:
		allowSessionBody(c)
		c.Next()
	}
}

// requireMail lets only domain and user sessions through.
func (s *Server) requireMail(c *gin.Context) {
	sess := sessionOf(c)
	switch {
	case sess == nil:
		s.needLogin(c, "/mail/login")
	case sess.Kind != store.KindDomain && sess.Kind != store.KindUser:
		s.errorPage(c, http.StatusForbidden, "You are signed in as the admin. Webmail needs a domain or email address login.")
		c.Abort()
	default:
		allowSessionBody(c)
		c.Next()
	}
}

func (s *Server) needLogin(c *gin.Context, to string) {
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		c.Redirect(http.StatusSeeOther, to)
	} else {
		s.errorPage(c, http.StatusUnauthorized, "Your session has ended. Please sign in again.")
	}
	c.Abort()
}

// csrf requires the session's token on every request that is not a
// GET/HEAD, from the form field "csrf" or the X-CSRF-Token header.
func (s *Server) csrf(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	sess := sessionOf(c)
	tok := c.GetHeader("X-CSRF-Token")
	if tok == "" {
		tok = c.PostForm("csrf")
	}
	if sess == nil || tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(sess.CSRF)) != 1 {
		s.errorPage(c, http.StatusForbidden, "The form was stale or did not come from this site. Reload the page and try again.")
		c.Abort()
		return
	}
	c.Next()
}

// clientIP is the TCP peer. Forwarded headers are ignored: the throttle
// must not be steerable by the client.
func clientIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// flash keeps a one-time message across the redirect after a POST, in a
// cookie rather than the URL (no user data in URLs).
func (s *Server) flash(c *gin.Context, msg string, isErr bool) {
	kind := "ok:"
	if isErr {
		kind = "err:"
	}
	v := kind + msg
	if len(v) > 1500 {
		v = v[:1500]
	}
	s.setCookie(c, cookieFlash, base64.RawURLEncoding.EncodeToString([]byte(v)), 0)
}

func (s *Server) takeFlash(c *gin.Context) (msg string, isErr bool) {
	raw := s.cookie(c, cookieFlash)
	if raw == "" {
		return "", false
	}
	s.setCookie(c, cookieFlash, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return "", false
	}
	v := string(b)
	switch {
	case strings.HasPrefix(v, "ok:"):
		return v[3:], false
	case strings.HasPrefix(v, "err:"):
		return v[4:], true
	}
	return "", false
}

// back redirects after a POST (303, so the browser GETs).
func back(c *gin.Context, to string) { c.Redirect(http.StatusSeeOther, to) }

func splitHostPortLoose(hp string) (string, string, error) { return net.SplitHostPort(hp) }

func joinHostPort(h, p string) string { return net.JoinHostPort(h, p) }

func isIPv6(h string) bool { return strings.Contains(h, ":") }

// hasCRLF reports control line breaks that could start a new header line.
func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }
