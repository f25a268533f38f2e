package fiscal

import (
	"fmt"
	"slices"
)

// DataType is how a tag's value is encoded.
type DataType byte

// Data types of FFD 1.05 (FFD105.md, "TLV").
const (
	TypeByte   DataType = iota + 1 // 1 byte
	TypeUint16                     // 2 bytes LE
	TypeUint32                     // 4 bytes LE
	TypeVLN                        // unsigned LE, as few bytes as needed, at most Max
	TypeFVLN                       // decimals byte, then a VLN
	TypeString                     // CP866
	TypeTime                       // uint32 LE, the local wall clock read as UTC
	TypeBytes                      // raw
	TypeSTLV                       // nested elements
)

var typeNames = [...]string{
	TypeByte: "byte", TypeUint16: "uint16", TypeUint32: "uint32", TypeVLN: "VLN", TypeFVLN: "FVLN",
	TypeString: "string", TypeTime: "unixtime", TypeBytes: "bytes", TypeSTLV: "STLV",
}

func (t DataType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("DataType(%d)", byte(t))
}

// TagInfo describes one tag: its short Russian name, its type and the largest
// value length it may have, in bytes.
type TagInfo struct {
	Tag  Tag
	Name string
	Type DataType
	Max  int
	// Repeat marks tags that may occur more than once in one context (items, phones).
	Repeat bool
	// Fixed marks tags whose value is always exactly Max bytes (1041, 1077).
	Fixed bool
}

// Presence says whether a tag must, may or must not appear in a context.
type Presence byte

// Presences; the zero value is Forbidden so that anything a rule does not list is refused.
const (
	Forbidden Presence = iota
	Optional
	Required
)

func (p Presence) String() string {
	switch p {
	case Required:
		return "required"
	case Optional:
		return "optional"
	}
	return "forbidden"
}

// Tags of FFD 1.05 that kassa writes, reads or passes through.
const (
	TagDocName          Tag = 1000
	TagAutomatic        Tag = 1001
	TagAutonomous       Tag = 1002
	TagTransferOperAddr Tag = 1005
	TagBuyerContact     Tag = 1008
	TagAddress          Tag = 1009
	TagDateTime         Tag = 1012
	TagRegisterSerial   Tag = 1013
	TagTransferOperINN  Tag = 1016
	TagOFDINN           Tag = 1017
	TagUserINN          Tag = 1018
	TagTotal            Tag = 1020
	TagCashier          Tag = 1021
	TagOFDResponse      Tag = 1022
	TagQuantity         Tag = 1023
	TagTransferOperName Tag = 1026
	TagItemName         Tag = 1030
	TagCash             Tag = 1031
	TagVendingMachine   Tag = 1036
	TagRegNumber        Tag = 1037
	TagShiftNumber      Tag = 1038
	TagDocNumber        Tag = 1040
	TagDriveNumber      Tag = 1041
	TagReceiptNumber    Tag = 1042
	TagItemSum          Tag = 1043
	TagAgentOperation   Tag = 1044
	TagOFDName          Tag = 1046
	TagUserName         Tag = 1048
	TagWarnResource     Tag = 1050
	TagWarnReplace      Tag = 1051
	TagWarnMemory       Tag = 1052
	TagWarnOFDTimeout   Tag = 1053
	TagCalcSign         Tag = 1054
	TagTaxSystem        Tag = 1055
	TagEncryption       Tag = 1056
	TagAgentFlags       Tag = 1057
	TagItem             Tag = 1059
	TagTaxSite          Tag = 1060
	TagTaxSystems       Tag = 1062
	TagOFDMessage       Tag = 1068
	TagAgentPhone       Tag = 1073
	TagReceiverPhone    Tag = 1074
	TagTransferPhone    Tag = 1075
	TagOperatorSign     Tag = 1078
	TagPrice            Tag = 1079
	TagElectronic       Tag = 1081
	TagUserRequisite    Tag = 1084
	TagRequisiteName    Tag = 1085
	TagRequisiteValue   Tag = 1086
	TagUnsentCount      Tag = 1097
	TagUnsentDate       Tag = 1098
	TagReRegReason      Tag = 1101
	TagVAT20            Tag = 1102
	TagVAT10            Tag = 1103
	TagVAT0             Tag = 1104
	TagVATNone          Tag = 1105
	TagVAT20120         Tag = 1106
	TagVAT10110         Tag = 1107
	TagInternet         Tag = 1108
	TagService          Tag = 1109
	TagBSO              Tag = 1110
	TagShiftDocs        Tag = 1111
	TagVATSums          Tag = 1115
	TagUnsentFirst      Tag = 1116
	TagSenderEmail      Tag = 1117
	TagShiftReceipts    Tag = 1118
	TagLottery          Tag = 1126
	TagVATSumByRate     Tag = 1119
	TagVATAmount        Tag = 1120
	TagMarkCode         Tag = 1162
	TagSupplierPhone    Tag = 1171
	TagCorrectionType   Tag = 1173
	TagCorrectionBasis  Tag = 1174
	TagBasisName        Tag = 1177
	TagBasisDate        Tag = 1178
	TagBasisNumber      Tag = 1179
	TagPlace            Tag = 1187
	TagRegisterVersion  Tag = 1188
	TagRegisterFFD      Tag = 1189
	TagDriveFFD         Tag = 1190
	TagReceiptRequisite Tag = 1192
	TagGambling         Tag = 1193
	TagUnit             Tag = 1197
	TagVATRate          Tag = 1199
	TagItemVAT          Tag = 1200
	TagCashierINN       Tag = 1203
	TagExcise           Tag = 1207
	TagFFDVersion       Tag = 1209
	TagSubject          Tag = 1212
	TagPrinterInMachine Tag = 1221
	TagMethod           Tag = 1214
	TagPrepaid          Tag = 1215
	TagCredit           Tag = 1216
	TagOther            Tag = 1217
	TagItemAgentFlags   Tag = 1222
	TagItemAgent        Tag = 1223
	TagItemSupplier     Tag = 1224
	TagSupplierName     Tag = 1225
	TagSupplierINN      Tag = 1226
	TagBuyerName        Tag = 1227
	TagBuyerINN         Tag = 1228
	TagCountry          Tag = 1230
	TagCustoms          Tag = 1231
)

// tagTable is FFD105.md's table with the nested tags it mentions.
var tagTable = []TagInfo{
	{Tag: DocRegistration, Name: "Отчёт о регистрации", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocShiftOpen, Name: "Отчёт об открытии смены", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocReceipt, Name: "Кассовый чек", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocShiftClose, Name: "Отчёт о закрытии смены", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocDriveClose, Name: "Отчёт о закрытии ФН", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocOperatorAck, Name: "Подтверждение оператора", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocRegistrationChange, Name: "Отчёт об изменении параметров регистрации", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocStateReport, Name: "Отчёт о текущем состоянии расчётов", Type: TypeSTLV, Max: MaxValueLen},
	{Tag: DocCorrection, Name: "Кассовый чек коррекции", Type: TypeSTLV, Max: MaxValueLen},

	{Tag: TagDocName, Name: "наименование документа", Type: TypeString, Max: 256},
	{Tag: TagAutomatic, Name: "признак автоматического режима", Type: TypeByte, Max: 1},
	{Tag: TagAutonomous, Name: "признак автономного режима", Type: TypeByte, Max: 1},
	{Tag: TagTransferOperAddr, Name: "адрес оператора перевода", Type: TypeString, Max: 256},
	{Tag: TagBuyerContact, Name: "телефон или эл. адрес покупателя", Type: TypeString, Max: 64},
	{Tag: TagAddress, Name: "адрес расчётов", Type: TypeString, Max: 256},
	{Tag: TagDateTime, Name: "дата, время", Type: TypeTime, Max: 4},
	{Tag: TagRegisterSerial, Name: "заводской номер ККТ", Type: TypeString, Max: 20},
	{Tag: TagTransferOperINN, Name: "ИНН оператора перевода", Type: TypeString, Max: 12},
	{Tag: TagOFDINN, Name: "ИНН ОФД", Type: TypeString, Max: 12},
	{Tag: TagUserINN, Name: "ИНН пользователя", Type: TypeString, Max: 12},
	{Tag: TagTotal, Name: "сумма расчёта, указанного в чеке", Type: TypeVLN, Max: 6},
	{Tag: TagCashier, Name: "кассир", Type: TypeString, Max: 64},
	{Tag: TagOFDResponse, Name: "код ответа ОФД", Type: TypeByte, Max: 1},
	{Tag: TagQuantity, Name: "количество предмета расчёта", Type: TypeFVLN, Max: 8},
	{Tag: TagTransferOperName, Name: "наименование оператора перевода", Type: TypeString, Max: 64},
	{Tag: TagItemName, Name: "наименование предмета расчёта", Type: TypeString, Max: 128},
	{Tag: TagCash, Name: "сумма по чеку наличными", Type: TypeVLN, Max: 6},
	{Tag: TagVendingMachine, Name: "номер автомата", Type: TypeString, Max: 20},
	{Tag: TagRegNumber, Name: "регистрационный номер ККТ", Type: TypeString, Max: 20},
	{Tag: TagShiftNumber, Name: "номер смены", Type: TypeUint32, Max: 4},
	{Tag: TagDocNumber, Name: "номер ФД", Type: TypeUint32, Max: 4},
	{Tag: TagDriveNumber, Name: "номер ФН", Type: TypeString, Max: 16, Fixed: true},
	{Tag: TagReceiptNumber, Name: "номер чека за смену", Type: TypeUint32, Max: 4},
	{Tag: TagItemSum, Name: "стоимость предмета расчёта", Type: TypeVLN, Max: 6},
	{Tag: TagAgentOperation, Name: "операция платёжного агента", Type: TypeString, Max: 24},
	{Tag: TagOFDName, Name: "наименование ОФД", Type: TypeString, Max: 256},
	{Tag: TagUserName, Name: "наименование пользователя", Type: TypeString, Max: 256},
	{Tag: TagWarnResource, Name: "признак исчерпания ресурса ФН", Type: TypeByte, Max: 1},
	{Tag: TagWarnReplace, Name: "признак необходимости срочной замены ФН", Type: TypeByte, Max: 1},
	{Tag: TagWarnMemory, Name: "признак заполнения памяти ФН", Type: TypeByte, Max: 1},
	{Tag: TagWarnOFDTimeout, Name: "признак превышения времени ожидания ответа ОФД", Type: TypeByte, Max: 1},
	{Tag: TagCalcSign, Name: "признак расчёта", Type: TypeByte, Max: 1},
	{Tag: TagTaxSystem, Name: "применяемая система налогообложения", Type: TypeByte, Max: 1},
	{Tag: TagEncryption, Name: "признак шифрования", Type: TypeByte, Max: 1},
	{Tag: TagAgentFlags, Name: "признак агента", Type: TypeByte, Max: 1},
	{Tag: TagItem, Name: "предмет расчёта", Type: TypeSTLV, Max: 1024, Repeat: true},
	{Tag: TagTaxSite, Name: "адрес сайта ФНС", Type: TypeString, Max: 256},
	{Tag: TagTaxSystems, Name: "системы налогообложения", Type: TypeByte, Max: 1},
	{Tag: TagOFDMessage, Name: "сообщение оператора для ФН", Type: TypeSTLV, Max: 9},
	{Tag: TagAgentPhone, Name: "телефон платёжного агента", Type: TypeString, Max: 19, Repeat: true},
	{Tag: TagReceiverPhone, Name: "телефон оператора по приёму платежей", Type: TypeString, Max: 19, Repeat: true},
	{Tag: TagTransferPhone, Name: "телефон оператора перевода", Type: TypeString, Max: 19, Repeat: true},
	{Tag: TagFiscalSign, Name: "ФПД", Type: TypeBytes, Max: 6, Fixed: true},
	{Tag: TagOperatorSign, Name: "ФПО", Type: TypeBytes, Max: 18},
	{Tag: TagPrice, Name: "цена за единицу", Type: TypeVLN, Max: 6},
	{Tag: TagElectronic, Name: "сумма по чеку безналичными", Type: TypeVLN, Max: 6},
	{Tag: TagUserRequisite, Name: "дополнительный реквизит пользователя", Type: TypeSTLV, Max: 328},
	{Tag: TagRequisiteName, Name: "наименование доп. реквизита", Type: TypeString, Max: 64},
	{Tag: TagRequisiteValue, Name: "значение доп. реквизита", Type: TypeString, Max: 256},
	{Tag: TagUnsentCount, Name: "количество непереданных ФД", Type: TypeUint32, Max: 4},
	{Tag: TagUnsentDate, Name: "дата первого непереданного ФД", Type: TypeTime, Max: 4},
	{Tag: TagReRegReason, Name: "код причины перерегистрации", Type: TypeByte, Max: 1, Repeat: true},
	{Tag: TagVAT20, Name: "сумма НДС 20%", Type: TypeVLN, Max: 6},
	{Tag: TagVAT10, Name: "сумма НДС 10%", Type: TypeVLN, Max: 6},
	{Tag: TagVAT0, Name: "сумма расчёта по ставке 0%", Type: TypeVLN, Max: 6},
	{Tag: TagVATNone, Name: "сумма расчёта без НДС", Type: TypeVLN, Max: 6},
	{Tag: TagVAT20120, Name: "сумма НДС 20/120", Type: TypeVLN, Max: 6},
	{Tag: TagVAT10110, Name: "сумма НДС 10/110", Type: TypeVLN, Max: 6},
	{Tag: TagInternet, Name: "признак ККТ для расчётов в интернет", Type: TypeByte, Max: 1},
	{Tag: TagService, Name: "признак расчётов за услуги", Type: TypeByte, Max: 1},
	{Tag: TagBSO, Name: "признак АС БСО", Type: TypeByte, Max: 1},
	{Tag: TagShiftDocs, Name: "количество ФД за смену", Type: TypeUint32, Max: 4},
	// 1115 holds one 1119 per rate without a flat tag: 6 of 4 + 15 bytes.
	{Tag: TagVATSums, Name: "суммы НДС чека", Type: TypeSTLV, Max: 114},
	{Tag: TagUnsentFirst, Name: "номер первого непереданного ФД", Type: TypeUint32, Max: 4},
	{Tag: TagSenderEmail, Name: "адрес эл. почты отправителя чека", Type: TypeString, Max: 64},
	{Tag: TagShiftReceipts, Name: "количество кассовых чеков за смену", Type: TypeUint32, Max: 4},
	{Tag: TagVATSumByRate, Name: "сумма НДС чека по ставке", Type: TypeSTLV, Max: 15, Repeat: true},
	{Tag: TagVATAmount, Name: "сумма НДС", Type: TypeVLN, Max: 6},
	{Tag: TagLottery, Name: "признак проведения лотереи", Type: TypeByte, Max: 1},
	{Tag: TagMarkCode, Name: "код товара", Type: TypeBytes, Max: 32},
	{Tag: TagSupplierPhone, Name: "телефон поставщика", Type: TypeString, Max: 19, Repeat: true},
	{Tag: TagCorrectionType, Name: "тип коррекции", Type: TypeByte, Max: 1},
	{Tag: TagCorrectionBasis, Name: "основание для коррекции", Type: TypeSTLV, Max: 292},
	{Tag: TagBasisName, Name: "наименование основания для коррекции", Type: TypeString, Max: 256},
	{Tag: TagBasisDate, Name: "дата документа основания", Type: TypeTime, Max: 4},
	{Tag: TagBasisNumber, Name: "номер документа основания", Type: TypeString, Max: 32},
	{Tag: TagPlace, Name: "место расчётов", Type: TypeString, Max: 256},
	{Tag: TagRegisterVersion, Name: "версия ККТ", Type: TypeString, Max: 8},
	{Tag: TagRegisterFFD, Name: "версия ФФД ККТ", Type: TypeByte, Max: 1},
	{Tag: TagDriveFFD, Name: "версия ФФД ФН", Type: TypeByte, Max: 1},
	{Tag: TagReceiptRequisite, Name: "дополнительный реквизит чека", Type: TypeString, Max: 16},
	{Tag: TagGambling, Name: "признак проведения азартных игр", Type: TypeByte, Max: 1},
	{Tag: TagUnit, Name: "единица измерения", Type: TypeString, Max: 16},
	{Tag: TagVATRate, Name: "ставка НДС", Type: TypeByte, Max: 1},
	{Tag: TagItemVAT, Name: "сумма НДС за предмет расчёта", Type: TypeVLN, Max: 6},
	{Tag: TagCashierINN, Name: "ИНН кассира", Type: TypeString, Max: 12},
	{Tag: TagExcise, Name: "признак торговли подакцизными товарами", Type: TypeByte, Max: 1},
	{Tag: TagFFDVersion, Name: "номер версии ФФД", Type: TypeByte, Max: 1},
	{Tag: TagSubject, Name: "признак предмета расчёта", Type: TypeByte, Max: 1},
	{Tag: TagMethod, Name: "признак способа расчёта", Type: TypeByte, Max: 1},
	{Tag: TagPrepaid, Name: "сумма предоплатой (зачёт аванса)", Type: TypeVLN, Max: 6},
	{Tag: TagCredit, Name: "сумма постоплатой (в кредит)", Type: TypeVLN, Max: 6},
	{Tag: TagOther, Name: "сумма встречным предоставлением", Type: TypeVLN, Max: 6},
	{Tag: TagPrinterInMachine, Name: "признак установки принтера в автомате", Type: TypeByte, Max: 1},
	{Tag: TagItemAgentFlags, Name: "признак агента по предмету расчёта", Type: TypeByte, Max: 1},
	{Tag: TagItemAgent, Name: "данные агента", Type: TypeSTLV, Max: 512},
	{Tag: TagItemSupplier, Name: "данные поставщика", Type: TypeSTLV, Max: 512},
	{Tag: TagSupplierName, Name: "наименование поставщика", Type: TypeString, Max: 256},
	{Tag: TagSupplierINN, Name: "ИНН поставщика", Type: TypeString, Max: 12},
	{Tag: TagBuyerName, Name: "покупатель (клиент)", Type: TypeString, Max: 256},
	{Tag: TagBuyerINN, Name: "ИНН покупателя (клиента)", Type: TypeString, Max: 12},
	{Tag: TagCountry, Name: "код страны происхождения", Type: TypeString, Max: 3},
	{Tag: TagCustoms, Name: "номер таможенной декларации", Type: TypeString, Max: 32},
}

var tagInfos = func() map[Tag]TagInfo {
	m := make(map[Tag]TagInfo, len(tagTable))
	for _, ti := range tagTable {
		if _, dup := m[ti.Tag]; dup {
			panic(fmt.Sprintf("fiscal: tag %d twice in the registry", ti.Tag))
		}
		m[ti.Tag] = ti
	}
	return m
}()

// LookupTag returns what the registry knows of t.
func LookupTag(t Tag) (TagInfo, bool) {
	ti, ok := tagInfos[t]
	return ti, ok
}

// Tags returns the registry, in the order of FFD105.md's table (documents first).
func Tags() []TagInfo {
	return append([]TagInfo(nil), tagTable...)
}

// maxLen is the registry's limit for t; the registry holds every tag the builders write.
func maxLen(t Tag) int { return tagInfos[t].Max }

// signedByDrive are the tags the drive adds to every document it signs.
var signedByDrive = []Tag{TagDocNumber, TagDriveNumber, TagDateTime, TagFiscalSign}

// contextRule is what may appear inside one document or STLV.
type contextRule struct {
	required []Tag
	optional []Tag
}

func tags(groups ...[]Tag) []Tag {
	var out []Tag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var (
	// userTags head every report: the document's name, the FFD version, the user and the place.
	userTags = []Tag{TagDocName, TagFFDVersion, TagUserName, TagUserINN, TagAddress, TagPlace, TagRegNumber}
	warnings = []Tag{TagWarnResource, TagWarnReplace, TagWarnMemory, TagWarnOFDTimeout}
	cashier  = []Tag{TagCashier, TagCashierINN}
	payments = []Tag{TagCash, TagElectronic, TagPrepaid, TagCredit, TagOther}
	vatSums  = []Tag{TagVAT20, TagVAT10, TagVAT0, TagVATNone, TagVAT20120, TagVAT10110, TagVATSums}
	// receiptAgent are the receipt-level agent tags (FFD105.md, "Agents").
	receiptAgent = []Tag{TagAgentFlags, TagAgentOperation, TagAgentPhone, TagReceiverPhone, TagTransferPhone,
		TagTransferOperName, TagTransferOperAddr, TagTransferOperINN, TagSupplierPhone}
	// receiptOptional is what a receipt or correction receipt may carry beyond its required set.
	receiptOptional = tags(vatSums, receiptAgent, []Tag{TagCashierINN, TagBuyerContact, TagSenderEmail, TagBuyerName,
		TagBuyerINN, TagReceiptRequisite, TagUserRequisite, TagInternet, TagAutomatic, TagTaxSite, TagVendingMachine})
	registration = contextRule{
		// yandex/ofd's fiscalReport (FFD 1.05) requires 1209, 1221, 1188, 1189,
		// 1013, 1048, 1018, 1062, 1012, 1037, 1002, 1110, 1109, 1056, 1001,
		// 1108, 1040, 1041, 1021, 1187, 1017 and 1077; FFD105.md adds 1000,
		// 1009, 1060 and the drive's 1190. 1017 is twelve zeros for an
		// autonomous register. 1036 is required with 1001 = 1 (see conditions).
		required: tags(userTags, signedByDrive, []Tag{TagRegisterSerial, TagRegisterVersion, TagRegisterFFD,
			TagDriveFFD, TagTaxSystems, TagTaxSite, TagAutomatic, TagAutonomous, TagEncryption, TagInternet,
			TagService, TagBSO, TagPrinterInMachine, TagOFDINN, TagCashier}),
		optional: tags(warnings, []Tag{TagCashierINN, TagOFDName, TagSenderEmail, TagAgentFlags, TagVendingMachine,
			TagExcise, TagGambling, TagLottery}),
	}
	shiftOpen = contextRule{
		// yandex/ofd's openShift requires 1209, 1018, 1012, 1038, 1037, 1041,
		// 1040, 1077; FFD105.md the user's tags, 1188 and 1189 besides.
		required: tags(userTags, signedByDrive, []Tag{TagShiftNumber, TagRegisterVersion, TagRegisterFFD}),
		optional: tags(cashier, warnings),
	}
)

// rules holds, per document type and per STLV, the tags allowed inside it.
// Anything not listed is forbidden. conditions adds the rules that depend on
// a value (1036 with 1001 = 1, 1098 with unsent documents).
var rules = map[Tag]contextRule{
	DocRegistration: registration,
	// The change report (11) is the registration's set with its reason codes
	// 1101 (yandex/ofd: correctionReasonCode, required, one or more); the
	// shift number 1038 is not among its tags.
	DocRegistrationChange: {
		required: tags(registration.required, []Tag{TagReRegReason}),
		optional: registration.optional,
	},
	DocShiftOpen: shiftOpen,
	DocShiftClose: {
		// yandex/ofd's closeShift lists neither 1188 nor 1189, and requires
		// 1097, 1098 and the warnings 1050–1053 always (FFD105.md: 1097 and
		// 1098 always, 1116 when something is unsent). With nothing unsent the
		// drive writes 1098 as zero, and each warning as 0 or 1.
		required: tags(userTags, signedByDrive, warnings, []Tag{TagShiftNumber, TagShiftDocs, TagShiftReceipts,
			TagUnsentCount, TagUnsentDate}),
		optional: tags(cashier, []Tag{TagUnsentFirst}),
	},
	DocStateReport: {
		// yandex/ofd's currentStateReport requires 1002, 1097, 1098 and 1116
		// always; with nothing unsent the drive writes the last two as zero.
		required: tags(userTags, signedByDrive, []Tag{TagAutonomous, TagUnsentCount, TagUnsentDate, TagUnsentFirst}),
		optional: tags(warnings, []Tag{TagShiftNumber}),
	},
	// yandex/ofd's closeArchive requires 1048, 1187, 1018, 1021, 1012, 1037,
	// 1041, 1040, 1077; FFD 1.05 adds the last shift's number 1038.
	DocDriveClose: {
		required: tags(userTags, signedByDrive, []Tag{TagShiftNumber, TagCashier}),
		optional: tags(warnings, []Tag{TagCashierINN}),
	},
	DocReceipt: {
		required: tags(userTags, signedByDrive, payments, []Tag{TagShiftNumber, TagReceiptNumber,
			TagCalcSign, TagTaxSystem, TagTotal, TagItem}),
		optional: tags(receiptOptional, []Tag{TagCashier}),
	},
	DocCorrection: {
		// yandex/ofd's receiptCorrection requires the cashier 1021 (operator)
		// and all of 1174.
		required: tags(userTags, signedByDrive, payments, []Tag{TagShiftNumber, TagReceiptNumber,
			TagCalcSign, TagTaxSystem, TagTotal, TagCorrectionType, TagCorrectionBasis, TagCashier}),
		optional: receiptOptional,
	},
	DocOperatorAck: {
		required: []Tag{TagOFDINN, TagDriveNumber, TagDocNumber, TagDateTime, TagOFDMessage},
		// An OFD without the fiscal crypto sends no ФПО (FFD105.md, "FN–OFD transport").
		optional: []Tag{TagOperatorSign},
	},
	TagItem: {
		required: []Tag{TagItemName, TagPrice, TagQuantity, TagItemSum, TagVATRate, TagMethod, TagSubject},
		optional: []Tag{TagUnit, TagItemAgentFlags, TagItemAgent, TagSupplierINN, TagItemSupplier, TagMarkCode,
			TagCountry, TagCustoms, TagItemVAT},
	},
	TagUserRequisite: {required: []Tag{TagRequisiteName, TagRequisiteValue}},
	// All of 1174, 1179 not empty (see CheckDocument): yandex/ofd's schema
	// requires the three, FFD 1.05 the basis document's number.
	TagCorrectionBasis: {required: []Tag{TagBasisName, TagBasisDate, TagBasisNumber}},
	TagItemAgent: {optional: []Tag{TagTransferOperAddr, TagTransferOperINN, TagTransferOperName, TagAgentOperation,
		TagAgentPhone, TagReceiverPhone, TagTransferPhone}},
	TagItemSupplier: {optional: []Tag{TagSupplierPhone, TagSupplierName}},
	TagOFDMessage:   {required: []Tag{TagOFDResponse}},
	TagVATSums:      {required: []Tag{TagVATSumByRate}},
	TagVATSumByRate: {required: []Tag{TagVATRate, TagVATAmount}},
}

// presence is the compiled form of rules.
var presence = func() map[Tag]map[Tag]Presence {
	m := make(map[Tag]map[Tag]Presence, len(rules))
	for ctx, r := range rules {
		p := make(map[Tag]Presence, len(r.required)+len(r.optional))
		for _, t := range r.optional {
			p[t] = Optional
		}
		for _, t := range r.required {
			p[t] = Required
		}
		for t := range p {
			if _, ok := tagInfos[t]; !ok {
				panic(fmt.Sprintf("fiscal: rule for %d names unregistered tag %d", ctx, t))
			}
		}
		m[ctx] = p
	}
	return m
}()

// PresenceIn says whether tag t may appear directly inside ctx: a document type
// (its top level) or an STLV tag (1059, 1084, 1174, 1223, 1224, 1068).
func PresenceIn(ctx, t Tag) Presence {
	return presence[ctx][t]
}

// RequiredIn lists the tags that must appear directly inside ctx, in ascending order.
func RequiredIn(ctx Tag) []Tag {
	var out []Tag
	for t, p := range presence[ctx] {
		if p == Required {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
