package mail_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/mail"
)

const smtpPassword = "s3cret-Pa55word"

// smtpServer is an SMTP server on loopback that accepts lobby:s3cret-Pa55word and
// records what it receives.
type smtpServer struct {
	addr string

	mu   sync.Mutex
	from string
	to   []string
	data string
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }))
	srv.Domain = "127.0.0.1"
	srv.AllowInsecureAuth = true
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

type smtpSession struct {
	srv    *smtpServer
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "lobby" || pass != smtpPassword {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.to = append(s.srv.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.data = string(b)
	return err
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func TestSMTP(t *testing.T) {
	t.Parallel()
	e := lobby.Email{To: "ada@example.com", Subject: "Your code: 123456", Text: "Your code is 123456.\n"}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t)
		m, err := mail.NewSMTP("smtp://lobby:"+smtpPassword+"@"+srv.addr, "Lobby <noreply@lobby.test>")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatalf("Send: %v", err)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if srv.from != "noreply@lobby.test" || len(srv.to) != 1 || srv.to[0] != e.To {
			t.Errorf("envelope from %q to %q, want noreply@lobby.test to %s", srv.from, srv.to, e.To)
		}
		for _, s := range []string{
			`From: "Lobby" <noreply@lobby.test>`, "To: <ada@example.com>", "Subject: Your code: 123456",
			"Date: ", "Message-ID: <", "@lobby.test>", "Content-Type: text/plain; charset=UTF-8", "\r\n\r\nYour code is 123456.",
		} {
			if !strings.Contains(srv.data, s) {
				t.Errorf("DATA lacks %q:\n%s", s, srv.data)
			}
		}
	})
	t.Run("ErrAuth", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t)
		m, err := mail.NewSMTP("smtp://lobby:wrong-"+smtpPassword+"@"+srv.addr+"?tls=none", "noreply@lobby.test")
		if err != nil {
			t.Fatal(err)
		}
		wantUnavailable(t, m.Send(context.Background(), e), "Authentication failed", smtpPassword)
	})
	t.Run("ErrNoSTARTTLS", func(t *testing.T) {
		t.Parallel()
		srv := newSMTPServer(t)
		m, err := mail.NewSMTP("smtp://lobby:"+smtpPassword+"@"+srv.addr+"?tls=starttls", "noreply@lobby.test")
		if err != nil {
			t.Fatal(err)
		}
		wantUnavailable(t, m.Send(context.Background(), e), "STARTTLS", smtpPassword)
	})
	t.Run("ErrRefused", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		m, err := mail.NewSMTP("smtp://lobby:"+smtpPassword+"@"+addr, "noreply@lobby.test")
		if err != nil {
			t.Fatal(err)
		}
		wantUnavailable(t, m.Send(context.Background(), e), "refused", smtpPassword)
	})
	t.Run("ErrBadRecipient", func(t *testing.T) {
		t.Parallel()
		m, err := mail.NewSMTP("smtp://127.0.0.1:1", "noreply@lobby.test")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), lobby.Email{To: "not an address"}); lobby.ErrorCode(err) != lobby.EINVALID {
			t.Errorf("err = %v, want %s", err, lobby.EINVALID)
		}
	})
}

func TestNewSMTP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, url, from, want string }{
		{"OK", "smtp://u:p@mail.example.com:587", "noreply@lobby.test", ""},
		{"OKImplicitTLS", "smtps://u:p@mail.example.com", "noreply@lobby.test", ""},
		{"OKLocalRelay", "smtp://localhost:25?tls=none", "noreply@lobby.test", ""},
		{"ErrScheme", "http://mail.example.com", "noreply@lobby.test", `scheme is "http"; want smtp://`},
		{"ErrNoScheme", "mail.example.com:587", "noreply@lobby.test", "scheme"},
		{"ErrNoHost", "smtp://", "noreply@lobby.test", "has no host"},
		{"ErrNoHostWithUser", "smtp://u:p@:587", "noreply@lobby.test", "has no host"},
		{"ErrPort", "smtp://mail.example.com:99999", "noreply@lobby.test", `port "99999"`},
		{"ErrNotURL", "smtp://u:" + smtpPassword + "@mail.example.com:x", "noreply@lobby.test", "not a URL"},
		{"ErrTLS", "smtp://mail.example.com?tls=yes", "noreply@lobby.test", `tls="yes"`},
		{"ErrImplicitTLSNone", "smtps://mail.example.com?tls=none", "noreply@lobby.test", `tls="none"`},
		{"ErrParam", "smtp://mail.example.com?auth=plain", "noreply@lobby.test", `unknown parameter "auth"`},
		{"ErrFrom", "smtp://mail.example.com", "lobby", `from address "lobby"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mail.NewSMTP(tt.url, tt.from)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), smtpPassword):
				t.Errorf("err = %v has the password", err)
			}
		})
	}
}
