package webui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

// page is what every template gets; Data is the page's own part.
type page struct {
	Title    string
	Area     string // "admin", "mail" or "" (login and error pages)
	Nav      string // active navigation item
	Sess     *store.Session
	CSRF     string
	Flash    string
	FlashErr bool
	Hostname string
	Data     any
}

var funcs = template.FuncMap{
	"size": humanSize,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := time.Since(t).Round(time.Second)
		if d < 0 {
			return "in " + (-d).String()
		}
		return d.String() + " ago"
	},
	"join":  strings.Join,
	"onoff": func(b bool) string { return map[bool]string{true: "on", false: "off"}[b] },
	"add":   func(a, b int) int { return a + b },
	"int64": func(n int) int64 { return int64(n) },
	"sub":   func(a, b int) int { return a - b },
}

// loadPages parses layout.html together with each other page, so every
// page is a full document sharing the layout.
func loadPages(fsys fs.FS) (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("parsing layout: %w", err)
	}
	names, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", n, err)
		}
		out[strings.TrimSuffix(n, ".html")] = t
	}
	return out, nil
}

// render writes a full page. It renders to a buffer first so a template
// error becomes a clean 500, not half a page.
func (s *Server) render(c *gin.Context, status int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.Error("web: no such template", "name", name)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	if p.Sess == nil {
		p.Sess = sessionOf(c)
	}
	if p.Sess != nil {
		p.CSRF = p.Sess.CSRF
	}
	if p.Flash == "" {
		p.Flash, p.FlashErr = s.takeFlash(c)
	}
	p.Hostname = s.cfg.Hostname
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("web: rendering", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "internal error")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (s *Server) errorPage(c *gin.Context, status int, msg string) {
	area := ""
	if strings.HasPrefix(c.Request.URL.Path, "/admin") {
		area = "admin"
	} else if strings.HasPrefix(c.Request.URL.Path, "/mail") {
		area = "mail"
	}
	s.render(c, status, "error", page{Title: http.StatusText(status), Data: struct {
		Status int
		Msg    string
		Area   string
	}{status, msg, area}})
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
