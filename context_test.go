package lobby_test

import (
	"context"
	"testing"

	"github.com/lobby-dev/lobby"
)

func TestAccessRules(t *testing.T) {
	c := &lobby.Consultant{ID: "csl_1", OwnerID: "usr_owner"}
	cnv := &lobby.Conversation{ID: "cnv_1", SubscriptionID: "sub_1", ConsultantID: "csl_1"}
	as := func(p *lobby.Principal) context.Context {
		return lobby.NewContextWithPrincipal(context.Background(), p)
	}
	for _, tc := range []struct {
		name         string
		ctx          context.Context
		manage, read bool
	}{
		{"OK/owner", as(&lobby.Principal{Kind: lobby.CallerUser, UserID: "usr_owner"}), true, false},
		{"OK/own-key", as(&lobby.Principal{Kind: lobby.CallerConsultant, ConsultantID: "csl_1"}), true, true},
		{"OK/buyer", as(&lobby.Principal{Kind: lobby.CallerBuyer, SubscriptionID: "sub_1", ConsultantID: "csl_1", UserID: "usr_b"}), false, true},
		{"Denied/another-user", as(&lobby.Principal{Kind: lobby.CallerUser, UserID: "usr_other"}), false, false},
		{"Denied/another-key", as(&lobby.Principal{Kind: lobby.CallerConsultant, ConsultantID: "csl_2"}), false, false},
		{"Denied/another-buyer", as(&lobby.Principal{Kind: lobby.CallerBuyer, SubscriptionID: "sub_2", ConsultantID: "csl_1"}), false, false},
		// A buyer who owns the consultant is still only a buyer with a buyer token.
		{"Denied/buyer-token-of-owner", as(&lobby.Principal{Kind: lobby.CallerBuyer, SubscriptionID: "sub_9", UserID: "usr_owner"}), false, false},
		{"Denied/anonymous", context.Background(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lobby.CanManageConsultant(tc.ctx, c); got != tc.manage {
				t.Errorf("CanManageConsultant = %v, want %v", got, tc.manage)
			}
			if got := lobby.CanReadConversation(tc.ctx, cnv); got != tc.read {
				t.Errorf("CanReadConversation = %v, want %v", got, tc.read)
			}
		})
	}
	if lobby.CallerOfToken("cl_buyer_x") != lobby.CallerBuyer || lobby.CallerOfToken("cl_user_x") != lobby.CallerUser ||
		lobby.CallerOfToken("cl_consultant_x") != lobby.CallerConsultant || lobby.CallerOfToken("sk_live") != "" {
		t.Error("CallerOfToken maps the token prefixes wrong")
	}
}
