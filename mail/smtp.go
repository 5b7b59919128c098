package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	gomail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds each SMTP conversation when ctx allows longer.
const smtpTimeout = 15 * time.Second

// SMTP sends mail through an SMTP server.
type SMTP struct {
	host     string
	opts     []gomail.Option
	password string
	from     string
	domain   string // of from, for Message-IDs
}

var _ lobby.Mailer = (*SMTP)(nil)

// NewSMTP returns a mailer for rawURL: smtp://user:pass@host:port (STARTTLS when offered,
// port 587 by default), smtps:// (implicit TLS, port 465), ?tls=starttls to require
// STARTTLS, ?tls=none for a local relay without TLS.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.Error() would repeat the URL, password included
		}
		return nil, fmt.Errorf("mail: the SMTP URL is not a URL: %w", err)
	}
	s := &SMTP{host: u.Hostname(), from: from}
	port := 587
	switch u.Scheme {
	case "smtp":
	case "smtps":
		port = 465
		s.opts = append(s.opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("mail: the SMTP URL scheme is %q; want smtp:// (STARTTLS when offered) or smtps:// (implicit TLS)", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("mail: the SMTP URL has no host; want smtp://user:pass@host:587")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("mail: the SMTP URL port %q is not a port number", p)
		}
	}
	s.opts = append(s.opts, gomail.WithPort(port))
	for k := range u.Query() {
		if k != "tls" {
			return nil, fmt.Errorf("mail: the SMTP URL has an unknown parameter %q; only tls is known", k)
		}
	}
	switch tls := u.Query().Get("tls"); {
	case tls == "" && u.Scheme == "smtp":
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case tls == "starttls" && u.Scheme == "smtp":
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tls == "none" && u.Scheme == "smtp":
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case tls != "":
		return nil, fmt.Errorf("mail: the SMTP URL has tls=%q; want starttls or none, with smtp:// only", tls)
	}
	if user := u.User.Username(); user != "" {
		s.password, _ = u.User.Password()
		// PLAIN and LOGIN refuse to send the password in clear except to localhost.
		s.opts = append(s.opts, gomail.WithUsername(user), gomail.WithPassword(s.password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: the from address %q is not an email address: %w", from, err)
	}
	s.domain = a.Address[strings.LastIndex(a.Address, "@")+1:]
	return s, nil
}

// Send implements lobby.Mailer.
func (s *SMTP) Send(ctx context.Context, e lobby.Email) error {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.from); err != nil {
		return lobby.Errorf(lobby.EINTERNAL, "mail: from: %v", err)
	}
	if err := m.To(e.To); err != nil {
		return lobby.Errorf(lobby.EINVALID, "Cannot send mail to %q: it is not an email address.", e.To)
	}
	m.Subject(e.Subject)
	m.SetDate()
	m.SetMessageIDWithValue(rand.Text() + "@" + s.domain)
	m.SetBodyString(gomail.TypeTextPlain, e.Text)

	timeout := smtpTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	c, err := gomail.NewClient(s.host, append(slices.Clip(s.opts), gomail.WithTimeout(timeout))...)
	if err != nil {
		return unavailable("SMTP", err.Error(), s.password)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return unavailable("SMTP", err.Error(), s.password)
	}
	return nil
}
