package server

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/fiscal"
)

type pointsData struct {
	Points []storage.Point
	OFDs   []cloud.OFD
	Taxes  []string
	Agents []agentOption
	Issued *issuedPair // the pair just made, shown once
	Zones  []zoneOption
}

// agentOption is one agent type of the registration's 1057, as the form shows it.
type agentOption struct{ Name, Word string }

var agentOptions = []agentOption{{"bank_paying_agent", "банковский платёжный агент"},
	{"bank_paying_subagent", "банковский платёжный субагент"}, {"paying_agent", "платёжный агент"},
	{"paying_subagent", "платёжный субагент"}, {"attorney", "поверенный"}, {"commission_agent", "комиссионер"},
	{"another", "иной агент"}}

type issuedPair struct {
	PointID, Login, Password string
}

func (s *Server) pointsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	s.renderPoints(w, r, c, http.StatusOK, "", "", nil)
}

func (s *Server) renderPoints(w http.ResponseWriter, r *http.Request, c *cabinetCtx, code int, flash, problem string, issued *issuedPair) {
	pts, err := s.points(r, c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := c.view("Торговые точки", "points")
	v.Flash, v.Error = flash, problem
	v.Data = pointsData{Points: pts, OFDs: OFDs, Taxes: taxOrder, Agents: agentOptions, Issued: issued, Zones: zones}
	s.render(w, r, code, "points", v)
}

// pointForm reads the settings form into the point and its notification
// targets; errors name the form's field as the owner sees it.
func pointForm(r *http.Request, pr *storage.Point) error {
	p := &pr.Point
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	p.Name, p.Address, p.INN, p.Place, p.Email = f("name"), f("address"), f("inn"), f("place"), f("email")
	switch {
	case p.Name == "" || utf8.RuneCountInString(p.Name) > 256:
		return fmt.Errorf("поле «Наименование» (name): от 1 до 256 символов")
	case p.Address == "" || utf8.RuneCountInString(p.Address) > 256:
		return fmt.Errorf("поле «Адрес расчётов» (address): от 1 до 256 символов")
	case !fiscal.ValidINN(p.INN):
		return fmt.Errorf("поле «ИНН» (inn): %q — не ИНН (10 или 12 цифр с верными контрольными)", p.INN)
	case utf8.RuneCountInString(p.Place) > 256:
		return fmt.Errorf("поле «Место расчётов» (place): не длиннее 256 символов")
	}
	if p.Email != "" {
		if _, err := mail.ParseAddress(p.Email); err != nil {
			return fmt.Errorf("поле «E-mail отправителя чеков» (email): %q — не адрес", p.Email)
		}
	}
	p.TaxSystems = 0
	for _, t := range r.PostForm["tax"] {
		bit, ok := cloud.TaxModes[t]
		if !ok {
			return fmt.Errorf("поле «Системы налогообложения» (tax): неизвестная %q", t)
		}
		p.TaxSystems |= bit
	}
	if p.TaxSystems == 0 {
		return fmt.Errorf("поле «Системы налогообложения» (tax): отметьте хотя бы одну")
	}
	inn := r.PostFormValue("ofd")
	p.OFD = cloud.OFD{}
	for _, o := range OFDs {
		if o.INN == inn {
			p.OFD = o
		}
	}
	if p.OFD == (cloud.OFD{}) {
		return fmt.Errorf("поле «ОФД» (ofd): выберите оператора из списка")
	}
	on := func(name string) bool { return r.PostFormValue(name) == "on" }
	p.ShopDocuments, p.StopOnErrors, p.CarryBalance, p.Offline = on("shopDocuments"), on("stopOnErrors"), on("carryBalances"), on("offline")
	p.KeepVAT20 = on("keepVat20")
	p.Automatic, p.Encryption, p.Services, p.BSO = on("automatic"), on("encryption"), on("services"), on("bso")
	p.PrinterInMachine, p.Excise, p.Gambling, p.Lottery = on("printerInMachine"), on("excise"), on("gambling"), on("lottery")
	p.MachineNumber, p.Cashier = f("machineNumber"), f("cashier")
	p.TimeZone = f("timeZone")
	if p.TimeZone != "" && !slices.ContainsFunc(zones, func(z zoneOption) bool { return z.Name == p.TimeZone }) {
		return fmt.Errorf("поле «Часовой пояс» (timeZone): выберите пояс из списка")
	}
	p.AgentFlags = 0
	for _, a := range r.PostForm["agent"] {
		bit, ok := cloud.AgentTypes[a]
		if !ok {
			return fmt.Errorf("поле «Признаки агента» (agent): неизвестный %q", a)
		}
		p.AgentFlags |= bit
	}
	switch {
	case p.Automatic && p.MachineNumber == "":
		return fmt.Errorf("поле «Номер автомата» (machineNumber): обязателен в автоматическом режиме")
	case utf8.RuneCountInString(p.MachineNumber) > 20:
		return fmt.Errorf("поле «Номер автомата» (machineNumber): не длиннее 20 символов")
	case utf8.RuneCountInString(p.Cashier) > 64:
		return fmt.Errorf("поле «Кассир» (cashier): не длиннее 64 символов")
	}
	for _, v := range []struct{ name, label, s string }{{"machineNumber", "Номер автомата", p.MachineNumber}, {"cashier", "Кассир", p.Cashier}} {
		if err := cloud.CheckControls(v.name, v.s, ""); err != nil {
			return fmt.Errorf("поле «%s» (%s): управляющие символы недопустимы", v.label, v.name)
		}
		for _, r := range v.s {
			if _, ok := fiscal.CP866Byte(r); !ok {
				return fmt.Errorf("поле «%s» (%s): символ %q не записывается в фискальный документ", v.label, v.name, r)
			}
		}
	}
	// Online-shop documents come at any hour, so the shift's balances must carry over.
	p.CarryBalance = p.CarryBalance || p.ShopDocuments
	p.RemoteMode = !p.StopOnErrors
	pr.NotifyEmail, pr.WebhookURL = f("notifyEmail"), f("webhookUrl")
	if pr.NotifyEmail != "" {
		a, err := mail.ParseAddress(pr.NotifyEmail)
		if err != nil {
			return fmt.Errorf("поле «E-mail для тревог» (notifyEmail): %q — не адрес", pr.NotifyEmail)
		}
		pr.NotifyEmail = a.Address
	}
	if pr.WebhookURL != "" {
		u, err := url.Parse(pr.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("поле «Webhook для тревог» (webhookUrl): %q — нужен адрес http:// или https://", pr.WebhookURL)
		}
	}
	return nil
}

func (s *Server) savePoint(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	id := r.PathValue("point")
	if !c.owns(id) {
		notFound(w)
		return
	}
	var formErr error
	pr, err := s.store.Point(r.Context(), id)
	if err == nil {
		if formErr = pointForm(r, &pr); formErr == nil {
			err = s.store.PutPoint(r.Context(), pr)
		}
	}
	name := pr.Point.Name
	switch {
	case err != nil:
		s.internal(w, r, err)
	case formErr != nil:
		s.renderPoints(w, r, c, http.StatusBadRequest, "", "Не сохранено: "+formErr.Error(), nil)
	default:
		s.log.Info("cloud: retail point settings saved", "point", id, "login", c.Login)
		s.renderPoints(w, r, c, http.StatusOK, fmt.Sprintf("Настройки точки «%s» сохранены.", name), "", nil)
	}
}

// newCredentials replaces the point's cabinet-issued integration pair with a
// new login and password: the old pair stops working at once.
func (s *Server) newCredentials(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	id := r.PathValue("point")
	if !c.owns(id) {
		notFound(w)
		return
	}
	user, password, err := s.newShopLogin(r.Context(), id, cabinetClientID, true)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	issued := &issuedPair{PointID: id, Login: user, Password: password}
	s.log.Info("cloud: integration credentials issued in the cabinet", "point", id, "user", issued.Login)
	s.renderPoints(w, r, c, http.StatusOK, "Новая пара выдана; прежняя больше не действует. Пароль показан один раз — сохраните его.", "", issued)
}
