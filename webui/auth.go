package webui

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

type loginData struct {
	Area   string // "admin" or "mail"
	Login  string // the name typed, shown again after a failure
	Action string
}

func areaHome(area string) string { return "/" + area }

// loginForm shows the sign-in form and sets a fresh double-submit token:
// there is no session yet to hold a CSRF token (login CSRF).
func (s *Server) loginForm(area string) gin.HandlerFunc {
	return func(c *gin.Context) {
		s.showLogin(c, area, http.StatusOK, "", "")
	}
}

func (s *Server) showLogin(c *gin.Context, area string, status int, login, errMsg string) {
	tok := store.RandomToken(24)
	s.setCookie(c, cookieLogin, tok, 0)
	title := "Webmail"
	if area == "admin" {
		title = "Control Panel"
	}
	p := page{Title: title + " sign in", CSRF: tok, Data: loginData{Area: area, Login: login, Action: "/" + area + "/login"}}
	if errMsg != "" {
		p.Flash, p.FlashErr = errMsg, true
	}
	s.render(c, status, "login", p)
}

func (s *Server) loginPost(area string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ck := s.cookie(c, cookieLogin)
		tok := c.PostForm("csrf")
		if ck == "" || subtle.ConstantTimeCompare([]byte(ck), []byte(tok)) != 1 {
			s.errorPage(c, http.StatusForbidden, "The sign-in form was stale or did not come from this site. Reload it and try again.")
			return
		}
		login := strings.TrimSpace(c.PostForm("login"))
		pw := c.PostForm("password")
		if area == "admin" && login == "" {
			login = store.AdminLogin
		}
		if login == "" || pw == "" || len(login) > 320 || len(pw) > 1024 {
			s.showLogin(c, area, http.StatusBadRequest, login, "Enter your login and password.")
			return
		}
		// A login that cannot use this area is told so before its
		// password is checked: the same answer for a right and a wrong
		// password (no oracle), and no guess is made.
		_, kind, _ := store.CanonicalLogin(login)
		switch {
		case area == "admin" && kind != store.KindAdmin:
			s.showLogin(c, area, http.StatusForbidden, login, "This login cannot use the admin panel. Use webmail at /mail.")
			return
		case area == "mail" && kind == store.KindAdmin:
			s.showLogin(c, area, http.StatusForbidden, login, "The admin login has no mailbox. Sign in to the admin panel at /admin.")
			return
		}
		p, err := s.st.Login(c.Request.Context(), store.ProtoWeb, clientIP(c.Request), login, pw)
		s.cfg.Metrics.Auth(metrics.ProtoWeb, err == nil)
		switch {
		case errors.Is(err, store.ErrThrottled):
			s.showLogin(c, area, http.StatusTooManyRequests, login, "Too many failed sign-ins. Wait a while and try again.")
			return
		case errors.Is(err, store.ErrUnavailable):
			s.showLogin(c, area, http.StatusServiceUnavailable, login, "Sign-in is not possible right now. Try again in a moment.")
			return
		case err != nil:
			s.showLogin(c, area, http.StatusUnauthorized, login, "Invalid login or password.")
			return
		}
		switch {
		case area == "admin" && p.Kind != store.KindAdmin:
			s.showLogin(c, area, http.StatusForbidden, login, "This login cannot use the admin panel. Use webmail at /mail.")
			return
		case area == "mail" && p.Kind == store.KindAdmin:
			s.showLogin(c, area, http.StatusForbidden, login, "The admin login has no mailbox. Sign in to the admin panel at /admin.")
			return
		}
		// Rotate: whatever session this browser had is ended, a new id is made.
		if old := s.cookie(c, cookieSession); old != "" && len(old) < 100 {
			s.st.DeleteSession(old)
		}
		if _, err := s.st.PruneSessions(time.Now()); err != nil {
			s.log.Warn("web: pruning expired sessions", "err", err)
		}
		sess, err := s.st.NewSession(p, s.cfg.SessionTTL)
		if err != nil {
			s.log.Error("web: creating session", "err", err)
			s.errorPage(c, http.StatusInternalServerError, "Could not sign you in right now.")
			return
		}
		s.setCookie(c, cookieSession, sess.ID, 0)
		s.setCookie(c, cookieLogin, "", -1)
		back(c, areaHome(area))
	}
}

func (s *Server) logout(area string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if sess := sessionOf(c); sess != nil {
			s.st.DeleteSession(sess.ID)
		}
		s.setCookie(c, cookieSession, "", -1)
		back(c, "/"+area+"/login")
	}
}
