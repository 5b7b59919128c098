package lobby

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Credits are a user's prepaid balance, spent by per-message plans. A wallet holds one
// currency, so that a balance is one number.
const (
	CreditCurrency         = "usd"
	MinCreditPurchaseCents = 100
	MaxCreditPurchaseCents = 100_000
)

// DefaultPlatformFeePercent is the platform's share of each charge and credit spend
// unless configured otherwise.
const DefaultPlatformFeePercent = 10

// PlatformFee is the platform's share, at percent, of amount in the smallest unit,
// rounded half up: one rule for a provider's charges and for credits spent.
func PlatformFee(amount int64, percent float64) int64 {
	return int64(math.Round(float64(amount) * percent / 100))
}

// Balance is a user's credits.
type Balance struct {
	BalanceCents int64  `json:"balance_cents"`
	Currency     string `json:"currency"`
}

// CreditCheckout is a user's purchase of credits, open until paid or expired. It
// shares the checkouts' ids (chk_), URLs and confirm step.
type CreditCheckout struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	UserID      string    `json:"-"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Provider    string    `json:"-"`
	ProviderRef string    `json:"-"`
	URL         string    `json:"checkout_url"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// StatusAt returns the purchase's status at now: an open one past its expiry is expired.
func (c *CreditCheckout) StatusAt(now time.Time) string {
	if c.Status == CheckoutOpen && !now.Before(c.ExpiresAt) {
		return CheckoutExpired
	}
	return c.Status
}

// CreditService keeps users' balances and their purchases. Completing a purchase is
// SubscriptionService.CompleteCheckout's, and reading one FindCheckout's, so that
// every checkout id is paid and read one way.
type CreditService interface {
	// FindBalance returns userID's balance, zero for a user who never bought any.
	FindBalance(ctx context.Context, userID string) (*Balance, error)

	// CreateCreditCheckout opens c for c.UserID to buy c.AmountCents. Returns
	// EINVALID for an amount out of bounds, ECONFLICT when the user has
	// MaxOpenCheckouts open.
	CreateCreditCheckout(ctx context.Context, c *CreditCheckout) error

	// SetCreditCheckoutProvider records where the payment provider takes the buyer.
	SetCreditCheckoutProvider(ctx context.Context, id, ref, url string) error
}

// CreditSeller is a payment provider that sells credits.
type CreditSeller interface {
	// StartCreditCheckout prepares the payment of c and returns the provider's
	// reference and the URL where the buyer pays.
	StartCreditCheckout(ctx context.Context, c *CreditCheckout) (ref, url string, err error)
}

// ValidateCreditAmount checks the amount of a purchase of credits.
func ValidateCreditAmount(cents int64) error {
	if cents < MinCreditPurchaseCents || cents > MaxCreditPurchaseCents {
		return Errorf(EINVALID, "amount_cents must be an integer from %d to %d (%s to %s)", MinCreditPurchaseCents, MaxCreditPurchaseCents,
			FormatCents(MinCreditPurchaseCents, CreditCurrency), FormatCents(MaxCreditPurchaseCents, CreditCurrency))
	}
	return nil
}

// BuyCredits opens a purchase of amount cents of credits for userID and hands it to
// the payment provider, returning it with the URL where the buyer pays.
func BuyCredits(ctx context.Context, credits CreditService, payments Payments, userID string, amount int64) (*CreditCheckout, error) {
	seller, ok := payments.(CreditSeller)
	if !ok {
		return nil, Errorf(ECONFLICT, "this server's payment provider (%s) does not sell credits", payments.Name())
	}
	c := &CreditCheckout{UserID: userID, AmountCents: amount, Currency: CreditCurrency, Provider: payments.Name()}
	if err := credits.CreateCreditCheckout(ctx, c); err != nil {
		return nil, err
	}
	ref, url, err := seller.StartCreditCheckout(ctx, c)
	if err != nil {
		return nil, err
	}
	c.ProviderRef, c.URL = ref, url
	return c, credits.SetCreditCheckoutProvider(ctx, c.ID, ref, url)
}

// FormatCents writes an amount for people: "$12.50", or "12.50 EUR" for a currency
// without a symbol here.
func FormatCents(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	n := fmt.Sprintf("%d.%02d", cents/100, cents%100)
	switch currency {
	case "usd":
		return sign + "$" + n
	case "eur":
		return sign + "€" + n
	case "gbp":
		return sign + "£" + n
	}
	return sign + n + " " + strings.ToUpper(currency)
}

// ShortOfCredits is the refusal of a message whose price the balance cannot pay.
func ShortOfCredits(balance, price int64) error {
	return Errorf(EPAYMENT, "your credits (%s) do not cover this message (%s): buy more with POST /api/v1/credits/checkout {\"amount_cents\": %d}",
		FormatCents(balance, CreditCurrency), FormatCents(price, CreditCurrency), min(MaxCreditPurchaseCents, max(MinCreditPurchaseCents, 10*price)))
}
