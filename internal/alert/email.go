package alert

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// emailChannel sends each alert as a plain-text mail over SMTP: STARTTLS
// (required by default), then AUTH PLAIN or LOGIN, one connection per
// alert (alerts are rare and rate-limited).
type emailChannel struct {
	cfg  EmailConfig
	host string // server host, for TLS and EHLO
	helo string
	from string // bare address for MAIL FROM
	to   []string
	tls  *tls.Config
	dial DialFunc
	now  func() time.Time
}

func newEmailChannel(c EmailConfig, hostname string, dial DialFunc, now func() time.Time) (*emailChannel, error) {
	host, _, err := net.SplitHostPort(c.Server)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", c.Server, err)
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("from %q: %w", c.From, err)
	}
	e := &emailChannel{cfg: c, host: host, from: from.Address, dial: dial, now: now}
	for _, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to %q: %w", t, err)
		}
		e.to = append(e.to, a.Address)
	}
	e.helo = hostname
	if e.helo == "" {
		e.helo = "localhost"
	}
	name := c.ServerName
	if name == "" {
		name = host
	}
	e.tls = &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", c.CAFile)
		}
		e.tls.RootCAs = pool
	}
	if e.dial == nil {
		var d net.Dialer
		e.dial = d.DialContext
	}
	return e, nil
}

// Send delivers m; SMTP 5xx replies (rejections) are permanent, 4xx and
// network errors are retried.
func (e *emailChannel) Send(ctx context.Context, m *Message) error {
	err := e.send(ctx, m)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

func (e *emailChannel) send(ctx context.Context, m *Message) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	conn, err := e.dial(ctx, "tcp", e.cfg.Server)
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", e.cfg.Server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Unblock a stuck conversation when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", e.cfg.Server, err)
	}
	defer c.Close()
	if err := c.Hello(e.helo); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", e.cfg.Server, err)
	}
	if e.cfg.StartTLS != "off" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(e.tls); err != nil {
				return fmt.Errorf("smtp %s: STARTTLS: %w", e.cfg.Server, err)
			}
		} else if e.cfg.StartTLS == "required" {
			return Permanent(fmt.Errorf("smtp %s: server does not offer STARTTLS (starttls: required)", e.cfg.Server))
		}
	}
	if e.cfg.Auth != "none" {
		var a smtp.Auth
		if e.cfg.Auth == "login" {
			a = &loginAuth{user: e.cfg.Username, pass: e.cfg.Password}
		} else {
			a = smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, e.host)
		}
		if err := c.Auth(a); err != nil {
			return Permanent(fmt.Errorf("smtp %s: AUTH %s: %w", e.cfg.Server, strings.ToUpper(e.cfg.Auth), err))
		}
	}
	if err := c.Mail(e.from); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", e.cfg.Server, err)
	}
	for _, to := range e.to {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", e.cfg.Server, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", e.cfg.Server, err)
	}
	if _, err := w.Write(e.message(m)); err != nil {
		_ = w.Close()
		return fmt.Errorf("smtp %s: write message: %w", e.cfg.Server, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: end of DATA: %w", e.cfg.Server, err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT does not undo it.
		return nil
	}
	return nil
}

// message builds the RFC 5322 message with CRLF line ends.
func (e *emailChannel) message(m *Message) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + oneLine(v) + "\r\n") }
	h("From", e.cfg.From)
	h("To", strings.Join(e.cfg.To, ", "))
	// Q-encoded only when it holds non-ASCII (a sensor name, say).
	h("Subject", mime.QEncoding.Encode("utf-8", e.cfg.SubjectPrefix+" "+m.Subject()))
	h("Date", e.now().Format(time.RFC1123Z))
	var id [12]byte
	_, _ = rand.Read(id[:])
	h("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+e.helo+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	h("X-Darkscope-Source", addrOf(m.Event.Alert))
	h("X-Darkscope-Danger-Level", m.Event.Alert.Level.String())
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body(), "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

func (e *emailChannel) Close() error { return nil }

// loginAuth is the AUTH LOGIN mechanism: the username, then the password,
// each in answer to a server challenge. Like smtp.PlainAuth it refuses to
// send them over an unencrypted connection except to localhost.
type loginAuth struct {
	user, pass string
	step       int
}

func (l *loginAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	if !s.TLS && s.Name != "localhost" && s.Name != "127.0.0.1" && s.Name != "::1" {
		return "", nil, errors.New("AUTH LOGIN refused over an unencrypted connection")
	}
	l.step = 0
	return "LOGIN", nil, nil
}

func (l *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	l.step++
	switch l.step {
	case 1:
		return []byte(l.user), nil
	case 2:
		return []byte(l.pass), nil
	}
	return nil, errors.New("AUTH LOGIN: unexpected server challenge")
}
