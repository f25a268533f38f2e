package printer

import (
	"fmt"

	"github.com/openkassa/kassa/fiscal"
)

// The words a printed document uses for coded values (FFD105.md, "The printed
// receipt" and "Printed words").

var calcSignWords = map[uint64]string{1: "ПРИХОД", 2: "ВОЗВРАТ ПРИХОДА", 3: "РАСХОД", 4: "ВОЗВРАТ РАСХОДА"}

var correctionWords = map[uint64]string{1: "КОРРЕКЦИЯ ПРИХОДА", 2: "КОРРЕКЦИЯ ВОЗВРАТА ПРИХОДА",
	3: "КОРРЕКЦИЯ РАСХОДА", 4: "КОРРЕКЦИЯ ВОЗВРАТА РАСХОДА"}

var methodWords = map[uint64]string{1: "ПРЕДОПЛАТА 100%", 2: "ПРЕДОПЛАТА", 3: "АВАНС", 4: "ПОЛНЫЙ РАСЧЕТ",
	5: "ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ", 6: "ПЕРЕДАЧА В КРЕДИТ", 7: "ОПЛАТА КРЕДИТА"}

var subjectWords = map[uint64]string{1: "ТОВАР", 2: "ПОДАКЦИЗНЫЙ ТОВАР", 3: "РАБОТА", 4: "УСЛУГА",
	5: "СТАВКА АЗАРТНОЙ ИГРЫ", 6: "ВЫИГРЫШ АЗАРТНОЙ ИГРЫ", 7: "ЛОТЕРЕЙНЫЙ БИЛЕТ", 8: "ВЫИГРЫШ ЛОТЕРЕИ",
	9: "ПРЕДОСТАВЛЕНИЕ РИД", 10: "ПЛАТЕЖ", 11: "АГЕНТСКОЕ ВОЗНАГРАЖДЕНИЕ", 12: "СОСТАВНОЙ ПРЕДМЕТ РАСЧЕТА",
	13: "ИНОЙ ПРЕДМЕТ РАСЧЕТА"}

// vatRateWord is 1199's word on an item: "НДС 22%", "НДС 5/105", "БЕЗ НДС".
func vatRateWord(rate uint64) string {
	if rate > 255 || !fiscal.VATRate(rate).Valid() {
		return fmt.Sprintf("НДС (СТАВКА %d)", rate)
	}
	return fiscal.VATRate(rate).String()
}

// vatSumWord is the word of a receipt's VAT sum at a rate carried in 1115:
// "СУММА НДС 22%", "СУММА НДС 7/107".
func vatSumWord(rate uint64) string {
	return "СУММА " + vatRateWord(rate)
}

// reasonWords are 1101's reasons of a registration change.
var reasonWords = map[uint64]string{1: "ЗАМЕНА ФН", 2: "ЗАМЕНА ОФД", 3: "ИЗМЕНЕНИЕ РЕКВИЗИТОВ",
	4: "ИЗМЕНЕНИЕ НАСТРОЕК ККТ"}

// agentWords are the bits of 1057 and 1222, lowest first.
var agentWords = [...]string{"БАНК. ПЛ. АГЕНТ", "БАНК. ПЛ. СУБАГЕНТ", "ПЛ. АГЕНТ", "ПЛ. СУБАГЕНТ",
	"ПОВЕРЕННЫЙ", "КОМИССИОНЕР", "АГЕНТ"}

// taxSystemWords are the bits of 1055 and 1062, lowest first.
var taxSystemWords = [...]string{"ОСН", "УСН ДОХОД", "УСН ДОХОД-РАСХОД", "ЕНВД", "ЕСХН", "ПСН"}

// payment is one of a receipt's five payment sums with its printed word.
type payment struct {
	tag  fiscal.Tag
	word string
}

var payments = [...]payment{{1031, "НАЛИЧНЫМИ"}, {1081, "БЕЗНАЛИЧНЫМИ"}, {1215, "ПРЕДВАРИТЕЛЬНАЯ ОПЛАТА (АВАНС)"},
	{1216, "ПОСЛЕДУЮЩАЯ ОПЛАТА (КРЕДИТ)"}, {1217, "ИНОЙ ФОРМОЙ ОПЛАТЫ"}}

// vatSums are the receipt's VAT sums 1102–1107 with their words, in the order printed.
var vatSums = [...]payment{{1102, "СУММА НДС 20%"}, {1103, "СУММА НДС 10%"}, {1106, "СУММА НДС 20/120"},
	{1107, "СУММА НДС 10/110"}, {1104, "СУММА С НДС 0%"}, {1105, "СУММА БЕЗ НДС"}}

// warnings are the drive's warnings 1050–1053 as a report prints them.
var warnings = [...]payment{{1050, "РЕСУРС ФН: МЕНЕЕ 30 ДНЕЙ"}, {1051, "ЗАМЕНИТЕ ФН В ТЕЧЕНИЕ 3 ДНЕЙ"},
	{1052, "ПАМЯТЬ ФН ЗАПОЛНЕНА НА 90%"}, {1053, "ПРЕВЫШЕНО ВРЕМЯ ОЖИДАНИЯ ОТВЕТА ОФД"}}

// bitWords joins the words of the bits set in v.
func bitWords(v uint64, words []string) string {
	s := ""
	for i, w := range words {
		if v&(1<<i) != 0 {
			if s != "" {
				s += ", "
			}
			s += w
		}
	}
	return s
}
