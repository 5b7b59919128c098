package lobby

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Mode is how a consultant answers: Lobby runs the model for it, or its own agent
// answers through the API and its messages are delivered to that agent.
type Mode string

// Consultant modes.
const (
	ModeManaged Mode = "managed" // Lobby runs the model with the consultant's prompt and knowledge
	ModeWebhook Mode = "webhook" // messages are POSTed, signed, to the consultant's agent
	ModePolling Mode = "polling" // the consultant's agent takes messages from its inbox
)

// Valid reports whether m is a mode Lobby knows.
func (m Mode) Valid() bool { return m == ModeManaged || m == ModeWebhook || m == ModePolling }

// RunsOwnAgent reports whether a consultant in the mode answers through its own agent,
// which its messages are delivered to.
func (m Mode) RunsOwnAgent() bool { return m == ModeWebhook || m == ModePolling }

// HasInbox reports whether the mode's messages wait in an inbox for the agent to take,
// rather than being sent to it.
func (m Mode) HasInbox() bool { return m == ModePolling }

// Signs reports whether the mode's messages are sent to the agent's URL signed with the
// consultant's webhook secret, which it therefore needs.
func (m Mode) Signs() bool { return m == ModeWebhook }

// Size limits of a consultant's fields.
const (
	MaxSlugLen         = 40
	MinSlugLen         = 3
	MaxNameLen         = 100
	MaxTaglineLen      = 200
	MaxDescriptionLen  = 10000
	MaxCategoryLen     = 40
	MaxTags            = 20
	MaxTagLen          = 30
	MaxSystemPromptLen = 32 << 10
	MaxModelLen        = 100
	MaxURLLen          = 2000
	MaxPlans           = 5
	MaxTierLen         = 30
	MaxPriceCents      = 10_000_000
	MaxMessageCap      = 10_000_000
	// MaxMessagePriceCents bounds the price of one message on a per-message plan:
	// the most credits one user may buy.
	MaxMessagePriceCents = MaxCreditPurchaseCents
	// MaxFreeMessageCap bounds a free plan's messages a period: every message may
	// become a signed POST to the consultant's URL, so none is free without end.
	MaxFreeMessageCap = 1000
	// MaxConsultantsPerUser is how many consultants one user may list, archived ones
	// included.
	MaxConsultantsPerUser = 20
	// MaxKeysPerConsultant is how many keys, working or stopped, a consultant may have
	// had: rotations beyond it are refused. Generous, since stopped keys stay listed.
	MaxKeysPerConsultant = 100
)

// Plan is a tier a buyer can subscribe to. A nil MessageCap is unlimited.
type Plan struct {
	Tier       string `json:"tier"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	MessageCap *int64 `json:"message_cap"`
	// Per is PerMessage for a plan whose price is taken from the buyer's credits
	// with each message; "" for one paid by the period.
	Per string `json:"per,omitempty"`
}

// PerMessage is the Per of a plan priced per message.
const PerMessage = "message"

// PerMessage reports whether each message on the plan is paid from credits.
func (p Plan) PerMessage() bool { return p.Per == PerMessage }

// DefaultPlans are the tiers a consultant gets when it names none.
func DefaultPlans() []Plan {
	cap := func(n int64) *int64 { return &n }
	return []Plan{
		{Tier: "starter", PriceCents: 2900, Currency: "usd", MessageCap: cap(100)},
		{Tier: "pro", PriceCents: 4900, Currency: "usd", MessageCap: cap(300)},
		{Tier: "unlimited", PriceCents: 9900, Currency: "usd", MessageCap: nil},
	}
}

// ConsultantStats are public figures about a consultant.
type ConsultantStats struct {
	Subscribers int64 `json:"subscribers"`
}

// Consultant is an AI agent listed in the catalog. The fields after CreatedAt are
// private: they never leave the server except to the owner and the consultant's key.
type Consultant struct {
	ID          string          `json:"id"`
	Slug        string          `json:"slug"`
	Name        string          `json:"name"`
	Tagline     string          `json:"tagline"`
	Description string          `json:"description"`
	Category    string          `json:"category"`
	Tags        []string        `json:"tags"`
	Mode        Mode            `json:"mode"`
	Plans       []Plan          `json:"plans"`
	Stats       ConsultantStats `json:"stats"`
	CreatedAt   time.Time       `json:"created_at"`

	OwnerID       string    `json:"-"`
	SystemPrompt  string    `json:"-"`
	WebhookURL    string    `json:"-"`
	WebhookSecret string    `json:"-"`
	Model         string    `json:"-"`
	UpdatedAt     time.Time `json:"-"`
	// PreviousWebhookSecret still signs deliveries, beside the new one, until
	// PreviousSecretUntil: the overlap of a secret rotation.
	PreviousWebhookSecret string     `json:"-"`
	PreviousSecretUntil   *time.Time `json:"-"`
	// WebhookDisabledAt is set when the endpoint answered 410 Gone; setting webhook_url
	// again enables it.
	WebhookDisabledAt     *time.Time `json:"-"`
	WebhookDisabledReason string     `json:"-"`
	// ArchivedAt is set once the owner took the consultant out of the catalog.
	ArchivedAt *time.Time `json:"-"`
	// HasKnowledge reports whether the consultant has a ready document, as of its
	// reading: a reply searches the knowledge base only then.
	HasKnowledge bool `json:"-"`
}

// Archived reports whether the consultant is out of the catalog: it takes no new
// subscribers, and serves its existing ones to the end of their periods.
func (c *Consultant) Archived() bool { return c.ArchivedAt != nil }

// ConsultantKey is one of a consultant's API keys, as its owner sees it: never the key.
type ConsultantKey struct {
	ID         string     `json:"id"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // to the minute; nil when never used
	// RevokedAt is when the key stops working, or stopped: nil while it works.
	RevokedAt *time.Time `json:"revoked_at"`
}

// MaxKeyOverlap is how long an old key may keep working after a rotation.
const MaxKeyOverlap = 24 * time.Hour

// KeyUseResolution is how precisely a key's last use is kept: recording it costs a
// write at most this often per key.
const KeyUseResolution = time.Minute

// SigningSecrets returns the secrets that sign a delivery at now: the current one, and
// the previous one during a rotation's overlap.
func (c *Consultant) SigningSecrets(now time.Time) []string {
	s := []string{c.WebhookSecret}
	if c.PreviousWebhookSecret != "" && c.PreviousSecretUntil != nil && now.Before(*c.PreviousSecretUntil) {
		s = append(s, c.PreviousWebhookSecret)
	}
	return s
}

// Plan returns the consultant's plan of the given tier, or ENOTFOUND naming the tiers
// there are.
func (c *Consultant) Plan(tier string) (*Plan, error) {
	var tiers []string
	for i := range c.Plans {
		if c.Plans[i].Tier == tier {
			return &c.Plans[i], nil
		}
		tiers = append(tiers, c.Plans[i].Tier)
	}
	return nil, Errorf(EINVALID, "tier %q is not offered by %s; choose one of: %s", tier, c.Slug, strings.Join(tiers, ", "))
}

// ValidateOptions carries the server settings that validation depends on.
type ValidateOptions struct {
	// Dev allows webhook URLs over plain http to loopback addresses.
	Dev bool
}

// Normalize trims and lower-cases what the catalog compares, and fills defaults.
func (c *Consultant) Normalize() {
	c.Slug = strings.TrimSpace(c.Slug)
	c.Name = strings.TrimSpace(c.Name)
	c.Tagline = strings.TrimSpace(c.Tagline)
	c.Description = strings.TrimSpace(c.Description)
	c.Category = strings.ToLower(strings.TrimSpace(c.Category))
	c.Model = strings.TrimSpace(c.Model)
	c.WebhookURL = strings.TrimSpace(c.WebhookURL)
	if c.Mode == "" {
		c.Mode = ModeManaged
	}
	tags := make([]string, 0, len(c.Tags))
	seen := map[string]bool{}
	for _, t := range c.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	c.Tags = tags
	for i := range c.Plans {
		c.Plans[i].Tier = strings.TrimSpace(c.Plans[i].Tier)
		c.Plans[i].Currency = strings.ToLower(strings.TrimSpace(c.Plans[i].Currency))
		c.Plans[i].Per = strings.ToLower(strings.TrimSpace(c.Plans[i].Per))
		if c.Plans[i].Currency == "" {
			c.Plans[i].Currency = "usd"
		}
	}
}

// Validate returns EINVALID with a message naming the first field that is wrong and how
// to fix it. Call Normalize first.
func (c *Consultant) Validate(opt ValidateOptions) error {
	if err := ValidateSlug(c.Slug); err != nil {
		return err
	}
	if err := checkLine("name", c.Name, 1, MaxNameLen); err != nil {
		return err
	}
	if err := checkLine("tagline", c.Tagline, 0, MaxTaglineLen); err != nil {
		return err
	}
	if err := checkText("description", c.Description, 0, MaxDescriptionLen); err != nil {
		return err
	}
	if err := checkLine("category", c.Category, 0, MaxCategoryLen); err != nil {
		return err
	}
	if len(c.Tags) > MaxTags {
		return Errorf(EINVALID, "tags: at most %d tags, got %d", MaxTags, len(c.Tags))
	}
	for _, t := range c.Tags {
		if len(t) > MaxTagLen || !isSlugChars(t) {
			return Errorf(EINVALID, "tag %q must be 1-%d characters of a-z, 0-9 and -", t, MaxTagLen)
		}
	}
	if err := checkText("system_prompt", c.SystemPrompt, 0, MaxSystemPromptLen); err != nil {
		return err
	}
	if err := checkText("model", c.Model, 0, MaxModelLen); err != nil {
		return err
	}
	switch c.Mode {
	case ModeManaged:
		if strings.TrimSpace(c.SystemPrompt) == "" {
			return Errorf(EINVALID, "system_prompt is required in managed mode: it is what Lobby tells the model your consultant is")
		}
	case ModeWebhook:
		if c.WebhookURL == "" {
			return Errorf(EINVALID, "webhook_url is required in webhook mode: the https URL where Lobby POSTs each buyer message")
		}
	case ModePolling:
	default:
		return Errorf(EINVALID, "mode %q is not one of managed, webhook, polling", c.Mode)
	}
	if c.WebhookURL != "" {
		if err := ValidateWebhookURL(c.WebhookURL, opt.Dev); err != nil {
			return err
		}
	}
	return ValidatePlans(c.Plans)
}

// ValidatePlans checks a consultant's tiers: 1 to MaxPlans, distinct tier names.
func ValidatePlans(plans []Plan) error {
	if len(plans) == 0 || len(plans) > MaxPlans {
		return Errorf(EINVALID, "plans: give 1 to %d plans, got %d", MaxPlans, len(plans))
	}
	seen := map[string]bool{}
	for _, p := range plans {
		if p.Tier == "" || len(p.Tier) > MaxTierLen || !isSlugChars(p.Tier) {
			return Errorf(EINVALID, "plan tier %q must be 1-%d characters of a-z, 0-9 and -", p.Tier, MaxTierLen)
		}
		if seen[p.Tier] {
			return Errorf(EINVALID, "plan tier %q appears twice; tiers must be distinct", p.Tier)
		}
		seen[p.Tier] = true
		if p.PriceCents < 0 || p.PriceCents > MaxPriceCents {
			return Errorf(EINVALID, "plan %q: price_cents must be between 0 and %d", p.Tier, MaxPriceCents)
		}
		if len(p.Currency) != 3 || !isLetters(p.Currency) {
			return Errorf(EINVALID, "plan %q: currency %q must be a 3-letter ISO 4217 code such as usd", p.Tier, p.Currency)
		}
		if p.MessageCap != nil && (*p.MessageCap < 1 || *p.MessageCap > MaxMessageCap) {
			return Errorf(EINVALID, "plan %q: message_cap must be between 1 and %d, or null for unlimited", p.Tier, MaxMessageCap)
		}
		switch p.Per {
		case "":
		case PerMessage:
			if p.PriceCents < 1 || p.PriceCents > MaxMessagePriceCents {
				return Errorf(EINVALID, "plan %q is priced per message: price_cents must be between 1 and %d a message", p.Tier, MaxMessagePriceCents)
			}
			if p.Currency != CreditCurrency {
				return Errorf(EINVALID, "plan %q is priced per message, from credits held in %s: set its currency to %q", p.Tier, CreditCurrency, CreditCurrency)
			}
		default:
			return Errorf(EINVALID, "plan %q: per %q is not known: use \"message\" for a price per message, or leave it out for a price a month", p.Tier, p.Per)
		}
	}
	for _, p := range plans {
		if p.PriceCents == 0 && (p.MessageCap == nil || *p.MessageCap > MaxFreeMessageCap) {
			return Errorf(EINVALID, "plan %q is free, so it must cap its messages: message_cap from 1 to %d", p.Tier, MaxFreeMessageCap)
		}
	}
	return nil
}

// ValidateSlug checks the contract's slug rule: 3-40 characters of a-z, 0-9 and -.
func ValidateSlug(slug string) error {
	if len(slug) < MinSlugLen || len(slug) > MaxSlugLen || !isSlugChars(slug) {
		return Errorf(EINVALID, "slug %q must be %d-%d characters of a-z, 0-9 and - (for example \"tax-advisor\")", slug, MinSlugLen, MaxSlugLen)
	}
	return nil
}

// ValidateWebhookURL checks a consultant's webhook URL: absolute https, no credentials,
// and no literal loopback, private, link-local or otherwise internal address. In dev
// mode plain http is allowed, and so are loopback and private addresses.
// Delivery checks the resolved address again at connect time.
func ValidateWebhookURL(raw string, dev bool) error {
	if len(raw) > MaxURLLen {
		return Errorf(EINVALID, "webhook_url must be at most %d characters", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return Errorf(EINVALID, "webhook_url %q is not an absolute URL; use https://your-agent.example.com/lobby", raw)
	}
	if u.User != nil {
		return Errorf(EINVALID, "webhook_url must not carry a user or password; Lobby signs every delivery instead")
	}
	if u.Fragment != "" {
		return Errorf(EINVALID, "webhook_url must not have a #fragment")
	}
	host := strings.ToLower(u.Hostname())
	internal := host == "localhost" || strings.HasSuffix(host, ".localhost")
	if ip, err := netip.ParseAddr(host); err == nil {
		internal = IsInternalAddr(ip)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !dev {
			return Errorf(EINVALID, "webhook_url must use https://; plain http:// is allowed only to loopback when the server runs with --dev")
		}
		if !IsLoopbackHost(host) {
			return Errorf(EINVALID, "webhook_url: plain http:// is allowed only to loopback addresses (127.0.0.1, ::1, localhost); use https:// for %s", host)
		}
	default:
		return Errorf(EINVALID, "webhook_url must use https://, not %q", u.Scheme)
	}
	if internal && !dev {
		return Errorf(EINVALID, "webhook_url points at %s, an internal address Lobby never delivers to; use a public https URL", host)
	}
	return nil
}

// IsLoopbackHost reports whether host names this machine: localhost, a name under
// .localhost, or a loopback address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsInternalAddr reports whether ip is one Lobby never sends a webhook to outside dev
// mode: loopback, private, link-local, CGNAT, multicast, unspecified, IPv4-mapped
// internal addresses and the cloud metadata addresses.
func IsInternalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok && IsInternalAddr(v4) {
		return true
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries by a translation or
// tunnelling scheme — IPv4-compatible (::a.b.c.d), 6to4 (2002::/16) or well-known
// NAT64 (64:ff9b::/96) — which a route may deliver to, so the IPv4 address decides.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case compatible.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

var (
	compatible = netip.MustParsePrefix("::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
)

var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and broadcast
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64, which can reach internal IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64, whose embedding the operator chooses
	netip.MustParsePrefix("2001::/32"),         // Teredo, which carries an obfuscated IPv4 address
	netip.MustParsePrefix("::/96"),             // IPv4-compatible, deprecated: never a real destination
}

// ConsultantFilter selects consultants for the catalog: archived ones only by OwnerID.
type ConsultantFilter struct {
	Query    string // full-text search; best match first. Empty lists newest first.
	Category string
	OwnerID  string // the owner's consultants, archived ones included
	Limit    int
	Cursor   string // opaque, from a previous page's next cursor
}

// ConsultantUpdate holds the fields to change; nil fields stay as they are.
type ConsultantUpdate struct {
	Slug         *string
	Name         *string
	Tagline      *string
	Description  *string
	Category     *string
	Tags         *[]string
	SystemPrompt *string
	Mode         *Mode
	WebhookURL   *string
	Model        *string
	Plans        *[]Plan
}

// Apply copies the set fields of upd onto c.
func (upd ConsultantUpdate) Apply(c *Consultant) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Slug, upd.Slug)
	set(&c.Name, upd.Name)
	set(&c.Tagline, upd.Tagline)
	set(&c.Description, upd.Description)
	set(&c.Category, upd.Category)
	set(&c.SystemPrompt, upd.SystemPrompt)
	set(&c.WebhookURL, upd.WebhookURL)
	set(&c.Model, upd.Model)
	if upd.Mode != nil {
		c.Mode = *upd.Mode
	}
	if upd.Tags != nil {
		c.Tags = *upd.Tags
	}
	if upd.Plans != nil {
		c.Plans = *upd.Plans
	}
}

// ConsultantService keeps consultants, their plans and their API keys.
type ConsultantService interface {
	// CreateConsultant stores c, owned by c.OwnerID, after Normalize and Validate, and
	// with DefaultPlans when it has none, and returns its API key (shown once). A webhook consultant gets c.WebhookSecret.
	// Returns ECONFLICT when the slug is taken, EINVALID for a bad field.
	CreateConsultant(ctx context.Context, c *Consultant, opt ValidateOptions) (apiKey string, err error)

	// FindConsultantBySlug returns the consultant with all its fields; callers decide
	// what to show. Returns ENOTFOUND.
	FindConsultantBySlug(ctx context.Context, slug string) (*Consultant, error)

	// FindConsultantByID returns ENOTFOUND when there is none.
	FindConsultantByID(ctx context.Context, id string) (*Consultant, error)

	// FindConsultantForWork is FindConsultantByID as the work on its messages needs
	// it, in one light read: every field but its plans and its figures, which are left
	// empty. Replies and deliveries read it once a message.
	FindConsultantForWork(ctx context.Context, id string) (*Consultant, error)

	// FindConsultants lists consultants matching f and the cursor of the next page ("" on
	// the last). Returns EINVALID for a malformed cursor.
	FindConsultants(ctx context.Context, f ConsultantFilter) ([]*Consultant, string, error)

	// UpdateConsultant applies upd to the consultant with the given id and returns it.
	// Switching to webhook mode creates a webhook secret if it has none; the caller shows
	// it once. Returns ENOTFOUND, ECONFLICT for a taken slug, EINVALID for a bad field.
	UpdateConsultant(ctx context.Context, id string, upd ConsultantUpdate, opt ValidateOptions) (c *Consultant, newSecret string, err error)

	// RotateKey gives the consultant a new API key and returns it, once. Its other keys
	// stop working at once, or after overlap (0 to MaxKeyOverlap): until is then when.
	// Returns ENOTFOUND, EINVALID for an overlap out of range.
	RotateKey(ctx context.Context, consultantID string, overlap time.Duration) (key string, until *time.Time, err error)

	// FindKeys lists the consultant's keys, newest first, working or not.
	FindKeys(ctx context.Context, consultantID string) ([]*ConsultantKey, error)

	// ArchiveConsultant takes the consultant out of the catalog: it takes no new
	// subscribers, each active subscription ends at the end of its period, and its
	// data is kept. Archiving an archived consultant changes nothing. Returns
	// ENOTFOUND.
	ArchiveConsultant(ctx context.Context, id string) (*Consultant, error)
}

// checkLine checks a one-line field that buyers read as the consultant's identity (a
// name, a tagline): checkText's rules, no control characters, and something visible
// when it is required, so that no name is blank or invisible.
func checkLine(field, s string, min, max int) error {
	if err := checkText(field, s, min, max); err != nil {
		return err
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return Errorf(EINVALID, "%s must be one line of text, without control characters", field)
	}
	if min > 0 && !strings.ContainsFunc(s, isVisible) {
		return Errorf(EINVALID, "%s must have a visible character; it is blank as written", field)
	}
	return nil
}

// isVisible reports whether r shows as a mark of its own: a letter, digit, symbol or
// punctuation, but not a space, a format character or the blank fillers some scripts
// have.
func isVisible(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', '\u2800': // Hangul fillers, the blank Braille pattern
		return false
	}
	return unicode.In(r, unicode.L, unicode.N, unicode.S, unicode.P)
}

// isBidiControl reports whether r overrides, embeds or isolates text direction, which
// can make a name read as another (U+202A–U+202E, U+2066–U+2069).
func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

func checkText(field, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s must be valid UTF-8", field)
	}
	if strings.ContainsRune(s, 0) {
		return Errorf(EINVALID, "%s must not contain NUL characters", field)
	}
	if strings.ContainsFunc(s, isBidiControl) {
		return Errorf(EINVALID, "%s must not contain right-to-left or other direction overrides (U+202A-U+202E, U+2066-U+2069)", field)
	}
	if len(s) < min {
		return Errorf(EINVALID, "%s is required", field)
	}
	if len(s) > max {
		return Errorf(EINVALID, "%s must be at most %d bytes, got %d", field, max, len(s))
	}
	return nil
}

func isSlugChars(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for _, c := range []byte(s) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// KeyChangeEmail tells a consultant's owner that change was made with the consultant's
// own API key, at now, and what to do if it was not them.
func KeyChangeEmail(owner *User, c *Consultant, change, baseURL string, now time.Time) Email {
	return Email{
		To:      owner.Email,
		Subject: "Lobby: " + c.Name + "'s settings were changed with its API key",
		Text: "On " + now.UTC().Format("2006-01-02 15:04 MST") + ", " + c.Name + " (" + c.Slug + "): " + change +
			".\n\nThe change was made with the consultant's API key, not by you signed in. If you or your agent did not make it, " +
			"the key may have leaked: rotate it at once (POST " + baseURL + "/api/v1/consultants/" + c.Slug + "/key), then check " +
			"the webhook URL and rotate the webhook secret.\n",
	}
}
