/**
 * Keyword tables per language for the rules understander. Phrases are written naturally
 * (accents, apostrophes) and normalized with `words()` before matching, so "d'acord" matches "d acord".
 */
import type { HandoffCategory, InfoTopic, Lang } from './types.js';

export type Table = Record<Lang, readonly string[]>;

/** Matched anywhere in the message; emergency wins over every other intent. */
export const EMERGENCY: Table = {
  en: ['chest pain', 'pain in my chest', 'my chest hurts', 'chest hurts', 'heart attack', "can't breathe", 'cant breathe', 'cannot breathe',
    'can not breathe', 'not breathing', 'difficulty breathing', 'trouble breathing', 'struggling to breathe', 'hard to breathe', 'choking',
    'kill myself', 'killing myself', 'suicide', 'suicidal', 'want to die', 'wanna die', 'end my life', 'hurt myself',
    'heavy bleeding', 'bleeding heavily', 'bleeding a lot', "won't stop bleeding", 'unconscious', 'passed out', 'unresponsive',
    'not responding', 'stroke', 'face drooping', 'slurred speech', 'seizure', 'overdose', 'anaphylaxis', 'emergency'],
  es: ['dolor en el pecho', 'dolor de pecho', 'dolor pecho', 'me duele el pecho', 'infarto', 'ataque al corazón', 'no puedo respirar',
    'no respira', 'me ahogo', 'me falta el aire', 'dificultad para respirar', 'me cuesta respirar', 'quiero morir', 'quiero morirme', 'me quiero morir',
    'suicidio', 'suicidarme', 'matarme', 'quitarme la vida', 'hacerme daño', 'sangrado abundante', 'sangra mucho', 'sangrando mucho',
    'hemorragia', 'inconsciente', 'se ha desmayado', 'desmayado', 'desmayada', 'no responde', 'ictus', 'derrame cerebral',
    'convulsiones', 'sobredosis', 'emergencia'],
  ca: ['dolor al pit', 'dolor de pit', 'em fa mal el pit', 'infart', 'atac de cor', 'no puc respirar', 'no respira', "m'ofego",
    "em falta l'aire", 'em costa respirar', 'vull morir', "vull morir-me", "em vull morir", 'suïcidi', "suïcidar-me", "matar-me", "treure'm la vida",
    'sagnat abundant', 'sagna molt', 'hemorràgia', 'inconscient', "s'ha desmaiat", 'desmaiat', 'desmaiada', 'no respon', 'ictus',
    'convulsions', 'sobredosi', 'emergència'],
  hi: ['seene mein dard', 'seene me dard', 'sine mein dard', 'sine me dard', 'chhati mein dard', 'chhati me dard', 'chati me dard',
    'chest mein dard', 'dil ka daura', 'saans nahi aa rahi', 'saans nahi', 'sans nahi', 'saans nahin', 'saans lene mein taklif',
    'marna chahta', 'marna chahti', 'mar jana chahta', 'mar jaana chahta', 'khudkushi', 'aatmahatya', 'jaan dena',
    'bahut khoon', 'khoon beh raha', 'khoon band nahi', 'behosh', 'hosh nahi', 'lakwa',
    'सीने में दर्द', 'छाती में दर्द', 'दिल का दौरा', 'सांस नहीं', 'साँस नहीं', 'सांस लेने में तकलीफ', 'मरना चाहता', 'मरना चाहती',
    'आत्महत्या', 'ख़ुदकुशी', 'बहुत खून', 'खून बह रहा', 'बेहोश', 'लकवा', 'इमरजेंसी', 'आपातकाल'],
};

/** Whole-message keywords (after fillers are dropped); plain "cancel" is the cancel-appointment intent. */
export const OPT_OUT: Table = {
  en: ['stop', 'stopall', 'stop all', 'unsubscribe', 'end', 'quit', 'opt out', 'optout', 'stop messages', 'stop texting me',
    'stop messaging me', 'no more messages'],
  es: ['baja', 'darme de baja', 'dar de baja', 'parar', 'alto', 'no más mensajes', 'no quiero más mensajes', 'no me mandéis más mensajes'],
  ca: ['prou', 'baixa', "donar-me de baixa", 'atura', 'para', 'no més missatges', 'no vull més missatges'],
  hi: ['band karo', 'band kar do', 'band', 'message band karo', 'messages band karo', 'message mat bhejo', 'mat bhejo',
    'बंद करो', 'बंद', 'मैसेज बंद करो', 'मत भेजो'],
};

export const OPT_IN: Table = {
  en: ['start', 'unstop', 'subscribe', 'resume', 'opt in', 'optin'],
  es: ['alta', 'darme de alta', 'reanudar', 'reactivar'],
  ca: ['alta', "donar-me d'alta", 'reprendre', 'reactivar'],
  hi: ['shuru', 'shuru karo', 'chalu karo', 'phir se shuru', 'शुरू', 'शुरू करो'],
};

/** Dropped before the whole-message checks, so "STOP please" still opts out. */
export const FILLERS: readonly string[] = ['please', 'pls', 'plz', 'now', 'por favor', 'ya', 'si us plau', 'sisplau', 'ara',
  'kripya', 'please ji', 'ji', 'abhi', 'कृपया'];

/** Checked in this order: the more specific reason wins over "a person". */
export const HANDOFF: [Exclude<HandoffCategory, 'other'>, Table][] = [
  ['complaint', {
    en: ['complaint', 'complain', 'not happy with', 'unhappy with'],
    es: ['queja', 'quejarme', 'reclamación', 'reclamar', 'hoja de reclamaciones'],
    ca: ['queixa', 'queixar-me', 'reclamació', 'reclamar'],
    hi: ['shikayat', 'shikaayat', 'complaint', 'शिकायत'],
  }],
  // Prices and insurance too: what a visit costs is the clinic's to say, not the bot's.
  ['billing', {
    en: ['bill', 'billing', 'invoice', 'payment', 'pay', 'refund', 'charged', 'receipt', 'cost', 'costs', 'price', 'prices', 'how much',
      'fee', 'fees', 'insurance', 'insurer'],
    es: ['factura', 'pago', 'pagar', 'cobro', 'cobrado', 'reembolso', 'recibo', 'precio', 'precios', 'cuánto cuesta', 'cuánto vale',
      'tarifa', 'tarifas', 'seguro médico', 'mi seguro', 'aseguradora', 'mutua'],
    ca: ['factura', 'pagament', 'pagar', 'cobrament', 'reemborsament', 'rebut', 'preu', 'preus', 'quant costa', 'quant val',
      'tarifa', 'tarifes', 'assegurança', 'asseguradora', 'mútua'],
    hi: ['bill', 'bhugtan', 'bhugtaan', 'payment', 'paisa wapas', 'refund', 'fees', 'fee', 'kitne paise', 'kitna paisa', 'kitna kharcha',
      'kharcha', 'kimat', 'keemat', 'insurance', 'भुगतान', 'बिल', 'फीस', 'कितने पैसे', 'खर्च', 'कीमत'],
  }],
  ['results', {
    en: ['results', 'result', 'lab results', 'test results', 'blood test results', 'report', 'reports'],
    es: ['resultados', 'resultado', 'analítica', 'informe'],
    ca: ['resultats', 'resultat', 'analítica', 'informe'],
    hi: ['report', 'reports', 'result', 'jaanch ki report', 'रिपोर्ट', 'रिजल्ट', 'नतीजे'],
  }],
  // A patient on the way but late: time-sensitive, so the desk hears of it at once (a high-priority ticket).
  ['late', {
    en: ['running late', "i'm late", 'i am late', "i'll be late", 'i will be late', 'be a bit late', 'minutes late', 'stuck in traffic',
      'late for my appointment'],
    es: ['llego tarde', 'llegaré tarde', 'voy a llegar tarde', 'voy tarde', 'me retraso', 'me voy a retrasar', 'minutos tarde'],
    ca: ['arribo tard', 'arribaré tard', 'faré tard', 'vaig tard', 'em retardo', 'minuts tard'],
    hi: ['late ho jaunga', 'late ho jaungi', 'late ho raha', 'late ho rahi', 'der ho jayegi', 'der se aaunga', 'der se aaungi',
      'thoda late', 'देर हो', 'लेट हो'],
  }],
  // Prescriptions, medication and "what should I take": questions for the clinical team, never for the bot.
  ['medical', {
    en: ['prescription', 'prescriptions', 'refill', 'my medication', 'medication', 'my medicine', 'my pills', 'what should i take',
      'what can i take', 'side effect', 'side effects', 'dosage', 'dose', 'is it normal'],
    es: ['receta', 'recetas', 'medicación', 'medicamento', 'medicamentos', 'mis pastillas', 'qué tomo', 'qué puedo tomar',
      'qué debo tomar', 'efectos secundarios', 'efecto secundario', 'dosis', 'es normal'],
    ca: ['recepta', 'receptes', 'medicació', 'medicament', 'medicaments', 'les meves pastilles', 'què prenc', 'què puc prendre',
      'què he de prendre', 'efectes secundaris', 'efecte secundari', 'dosi', 'és normal'],
    hi: ['dawai', 'dawa', 'dava', 'davai', 'dawaai', 'parchi', 'kya khaun', 'kya loon', 'side effect', 'दवा', 'दवाई', 'पर्ची'],
  }],
  ['human', {
    en: ['person', 'human', 'agent', 'receptionist', 'staff', 'real person', 'operator', 'representative', 'talk to someone',
      'speak to someone', 'speak with someone'],
    es: ['persona', 'humano', 'agente', 'recepcionista', 'hablar con alguien', 'operador', 'hablar con una persona'],
    ca: ['persona', 'humà', 'agent', 'recepcionista', 'parlar amb algú', 'parlar amb una persona'],
    hi: ['insaan se baat', 'insan se baat', 'kisi se baat', 'aadmi se baat', 'receptionist', 'staff', 'इंसान', 'किसी से बात', 'व्यक्ति'],
  }],
];

/**
 * Questions about the clinic itself, by topic; more than one topic may match
 * ("address and phone please"). Phrases name the clinic's side ("your number"),
 * so a patient giving their own phone number is not asking for the clinic's.
 */
export const CLINIC_INFO: [InfoTopic, Table][] = [
  ['address', {
    en: ['where are you', 'where is the clinic', 'where is your clinic', 'where is the practice', 'where is it', 'your address',
      'what is the address', "what's the address", 'clinic address', 'address of the clinic', 'where is it located', 'location', 'directions', 'how do i get there',
      'how to get there', 'how do i get to', 'how can i get to'],
    es: ['dónde estáis', 'dónde están', 'dónde está la clínica', 'dónde está el centro', 'dónde se encuentra', 'dónde queda',
      'vuestra dirección', 'su dirección', 'cuál es la dirección', 'dirección de la clínica', 'cómo llegar', 'cómo se llega', 'ubicación'],
    ca: ['on sou', 'on esteu', 'on és la clínica', 'on és el centre', 'on està la clínica', 'la vostra adreça', "quina és l'adreça", "l'adreça de la clínica",
      'com arribar', 'com s hi arriba', 'ubicació'],
    hi: ['clinic kahan hai', 'clinic kahaan hai', 'aap kahan ho', 'aap kahan hain', 'kahan par hai', 'address kya hai', 'pata kya hai',
      'address batao', 'address bhejo', 'location bhejo', 'क्लिनिक कहाँ है', 'कहाँ है', 'पता क्या है', 'पता बताइए', 'पता बताओ'],
  }],
  ['hours', {
    en: ['opening hours', 'opening times', 'office hours', 'your hours', 'hours of operation', 'are you open', 'when are you open',
      'when do you open', 'what time do you open', 'when do you close', 'what time do you close', 'closing time'],
    es: ['horario', 'horarios', 'a qué hora abren', 'a qué hora abrís', 'a qué hora cierran', 'a qué hora cerráis', 'cuándo abren',
      'cuándo abrís', 'estáis abiertos', 'están abiertos', 'abrís el', 'abren el'],
    ca: ['horari', 'horaris', 'a quina hora obriu', 'a quina hora tanqueu', 'quan obriu', 'esteu oberts', 'obriu el', 'obriu dissabte'],
    hi: ['kab khulta', 'kab khulti', 'kab khulega', 'kab band hota', 'kitne baje khulta', 'kitne baje band', 'clinic ki timing', 'clinic timing',
      'clinic timings', 'aapki timing', 'khulne ka samay', 'कब खुलता', 'कब खुलेगा', 'कितने बजे खुलता', 'खुलने का समय', 'टाइमिंग'],
  }],
  ['phone', {
    en: ['your phone number', 'your number', 'your telephone', 'clinic phone', 'clinic number', 'phone number of the clinic',
      'number of the clinic', 'number to call', 'call you', 'ring you', 'contact number', 'contact details', 'how can i contact you',
      'how do i contact you'],
    es: ['vuestro teléfono', 'su teléfono', 'vuestro número', 'teléfono de la clínica', 'número de la clínica', 'teléfono de contacto',
      'llamaros', 'llamarles', 'llamar a la clínica', 'datos de contacto', 'cómo os contacto', 'cómo contactar'],
    ca: ['el vostre telèfon', 'el vostre número', 'telèfon de la clínica', 'número de la clínica', 'telèfon de contacte', 'trucar-vos',
      'trucar a la clínica', 'dades de contacte', 'com contactar'],
    hi: ['aapka number', 'aapka phone', 'aapka phone number', 'clinic ka number', 'clinic ka phone', 'contact number', 'phone number kya hai',
      'number kya hai', 'call kaise karu', 'आपका नंबर', 'आपका फ़ोन नंबर', 'क्लिनिक का नंबर', 'फ़ोन नंबर क्या है'],
  }],
];

/** Bare topic words, every language: a question only in a short message ("address and phone?", "horario"). */
export const CLINIC_INFO_WORDS: [InfoTopic, readonly string[]][] = [
  ['address', ['address', 'directions', 'dirección', 'direccion', 'adreça', 'pata', 'पता']],
  ['hours', ['hours', 'opening', 'horario', 'horari', 'timing', 'timings', 'समय']],
  ['phone', ['phone', 'telephone', 'phone number', 'teléfono', 'telèfon', 'फ़ोन', 'फोन']],
];

export const RESCHEDULE: Table = {
  en: ['reschedule', 're-schedule', 'rebook', 'change my appointment', 'change the appointment', 'change appointment',
    'move my appointment', 'move the appointment', 'move it', 'change the time', 'change the date', 'postpone', 'change it'],
  es: ['cambiar', 'cambiar la cita', 'cambiar mi cita', 'mover la cita', 'mover mi cita', 'aplazar', 'reprogramar', 'modificar la cita'],
  ca: ['canviar', 'canviar la cita', 'canviar la meva cita', 'moure la cita', 'ajornar', 'reprogramar', 'modificar la cita'],
  hi: ['badalna', 'badalni', 'badal do', 'badlo', 'reschedule', 'change karna', 'change karni', 'बदलना', 'बदलनी', 'बदल दो'],
};

/** Verbs that, with a word for an appointment in the same message ("move my Monday appointment"), ask to reschedule. */
export const RESCHEDULE_VERBS: Table = {
  en: ['move', 'change', 'shift', 'switch', 'push back', 'bring forward'],
  es: ['mover', 'muevo', 'pasar', 'cambiar', 'cambio', 'adelantar', 'retrasar'],
  ca: ['moure', 'passar', 'canviar', 'canvio', 'avançar', 'endarrerir'],
  hi: ['badal', 'badlo', 'shift', 'aage', 'peeche', 'बदल'],
};

export const CANCEL: Table = {
  en: ['cancel', 'call off', "can't come", 'cannot come', "can't make it", 'cant make it', "won't make it"],
  es: ['cancelar', 'anular', 'no puedo ir', 'no podré ir', 'cancela'],
  ca: ['cancel·lar', 'cancelar', 'anul·lar', 'no puc venir', 'no podré venir', 'cancel·la'],
  hi: ['radd', 'radd karna', 'rad karna', 'cancel', 'cancel karna', 'nahi aa paunga', 'nahi aa paungi', 'nahi aa sakta', 'रद्द', 'कैंसल'],
};

export const CONFIRM: Table = {
  en: ['confirm', "i'll be there", 'i will be there', 'will attend'],
  es: ['confirmar', 'confirmo', 'allí estaré', 'asistiré'],
  ca: ['confirmar', 'confirmo', 'hi seré', 'hi aniré'],
  hi: ['confirm', 'pakka', 'aaunga', 'aaungi', 'aa jaunga', 'पक्का', 'पुष्टि', 'आऊंगा', 'आऊंगी'],
};

/** Strong booking words win over "my appointment" (which alone means listing). */
export const BOOK_STRONG: Table = {
  en: ['book', 'booking', 'schedule', 'make an appointment', 'an appointment', 'a new appointment', 'new appointment', 'see a doctor'],
  es: ['reservar', 'pedir cita', 'pedir hora', 'una cita', 'cita nueva', 'nueva cita', 'coger cita', 'sacar cita'],
  ca: ['reservar', 'demanar hora', 'demanar cita', 'una cita', 'nova cita', 'una hora'],
  hi: ['book karna', 'book karni', 'appointment chahiye', 'appointment lena', 'appointment leni', 'milna hai', 'dikhana hai',
    'अपॉइंटमेंट चाहिए', 'मिलना है'],
};
export const BOOK_WEAK: Table = {
  en: ['appointment', 'consultation', 'visit', 'slot'],
  es: ['cita', 'consulta', 'visita'],
  ca: ['cita', 'consulta', 'visita', 'hora'],
  hi: ['appointment', 'अपॉइंटमेंट', 'doctor ko dikhana'],
};

export const LIST: Table = {
  en: ['my appointments', 'my appointment', 'when is my appointment', 'list', 'upcoming', 'do i have', 'show my'],
  es: ['mis citas', 'mi cita', 'ver mis citas', 'cuándo es mi cita', 'qué citas tengo', 'tengo cita', 'tengo hora', 'tengo alguna cita'],
  ca: ['les meves cites', 'la meva cita', 'quines cites', 'quan és la meva cita', 'tinc cita', 'tinc hora', 'tinc alguna cita', 'veure les cites'],
  hi: ['meri appointments', 'meri appointment', 'mera appointment', 'mere appointment', 'appointment kab hai', 'kab hai',
    'मेरी अपॉइंटमेंट', 'मेरे अपॉइंटमेंट', 'कब है'],
};

export const HELP: Table = {
  en: ['help', 'how does this work', 'what can you do'],
  es: ['ayuda', 'cómo funciona', 'qué puedes hacer'],
  ca: ['ajuda', 'com funciona', 'què pots fer'],
  hi: ['madad', 'help chahiye', 'sahayata', 'मदद', 'सहायता'],
};

export const MENU: Table = {
  en: ['menu', 'main menu', 'start over', 'restart', 'back'],
  es: ['menú', 'inicio', 'menú principal', 'volver', 'empezar de nuevo'],
  ca: ['menú', 'inici', 'menú principal', 'tornar', 'tornar a començar'],
  hi: ['menu', 'shuru se', 'wapas', 'मेनू', 'शुरू से'],
};

export const THANKS: Table = {
  en: ['thanks', 'thank you', 'thx', 'ty', 'cheers', 'bye', 'goodbye', 'thank u'],
  es: ['gracias', 'muchas gracias', 'adiós', 'hasta luego', 'chao'],
  ca: ['gràcies', 'moltes gràcies', 'merci', 'adéu', 'fins aviat'],
  hi: ['dhanyavad', 'dhanyawad', 'dhanyavaad', 'shukriya', 'thank you ji', 'धन्यवाद', 'शुक्रिया'],
};

export const GREET: Table = {
  en: ['hi', 'hello', 'hey', 'good morning', 'good afternoon', 'good evening'],
  es: ['hola', 'buenos días', 'buenas tardes', 'buenas noches', 'buenas'],
  ca: ['hola', 'bon dia', 'bona tarda', 'bona nit', 'bones'],
  hi: ['namaste', 'namaskar', 'hello ji', 'नमस्ते', 'नमस्कार'],
};

export const AFFIRM: Table = {
  en: ['yes', 'yeah', 'yep', 'yup', 'sure', 'ok', 'okay', 'sounds good', 'correct', 'right', "that's right", 'perfect', 'great', 'fine', 'y'],
  es: ['sí', 'si', 'claro', 'vale', 'perfecto', 'correcto', 'de acuerdo', 'está bien', 'bueno', 'ok'],
  ca: ['sí', 'si', "d'acord", 'perfecte', 'molt bé', 'està bé', 'val', 'vale', 'és clar', 'correcte', 'ok'],
  hi: ['haan', 'han', 'haa', 'haanji', 'haan ji', 'ji haan', 'ji', 'theek hai', 'thik hai', 'theek', 'sahi', 'ok', 'हाँ', 'हां', 'जी', 'जी हाँ', 'ठीक है', 'सही'],
};

export const DENY: Table = {
  en: ['no', 'nope', 'nah', 'no thanks', 'not really', 'n'],
  es: ['no', 'no gracias', 'ninguna', 'ninguno'],
  ca: ['no', 'no gràcies', 'cap'],
  hi: ['nahi', 'nahin', 'nai', 'na', 'nahi chahiye', 'नहीं', 'नही', 'ना'],
};

/** Ordinal words by position (index 0 = first); only read in short messages. */
export const ORDINALS: Record<Lang, readonly (readonly string[])[]> = {
  en: [['first', '1st'], ['second', '2nd'], ['third', '3rd'], ['fourth', '4th'], ['fifth', '5th'], ['sixth', '6th']],
  es: [['primero', 'primera', 'primer'], ['segundo', 'segunda'], ['tercero', 'tercera', 'tercer'], ['cuarto', 'cuarta'], ['quinto', 'quinta'], ['sexto', 'sexta']],
  ca: [['primer', 'primera'], ['segon', 'segona'], ['tercer', 'tercera'], ['quart', 'quarta'], ['cinquè', 'cinquena'], ['sisè', 'sisena']],
  hi: [['pehla', 'pehli', 'pehle', 'pahla', 'pahli', 'पहला', 'पहली', 'पहले'], ['doosra', 'dusra', 'doosri', 'dusri', 'doosre', 'dusre', 'दूसरा', 'दूसरी', 'दूसरे'],
    ['teesra', 'tisra', 'teesri', 'tisri', 'तीसरा', 'तीसरी'], ['chautha', 'chauthi', 'चौथा', 'चौथी'], ['paanchva', 'panchva', 'paanchvi', 'पांचवां', 'पांचवा', 'पांचवी'],
    ['chhatha', 'छठा']],
};

/** Number words: read as a choice only when they are the whole message or follow "option". */
export const NUMBER_WORDS: Record<Lang, readonly (readonly string[])[]> = {
  en: [['one'], ['two'], ['three'], ['four'], ['five'], ['six']],
  es: [['uno', 'una'], ['dos'], ['tres'], ['cuatro'], ['cinco'], ['seis']],
  ca: [['un', 'una'], ['dos', 'dues'], ['tres'], ['quatre'], ['cinc'], ['sis']],
  hi: [['ek', 'एक'], ['do', 'दो'], ['teen', 'तीन'], ['char', 'chaar', 'चार'], ['paanch', 'panch', 'पांच'], ['chhe', 'छह']],
};
export const OPTION_WORDS: readonly string[] = ['option', 'opcion', 'opcio', 'number', 'numero', 'num', 'no', 'n', 'vikalp', 'विकल्प', 'the', 'el', 'la', 'wala', 'wali'];

/** Function words per language for language detection, on top of every table above. */
export const LANGUAGE_WORDS: Table = {
  en: ['i', 'my', 'me', 'the', 'a', 'an', 'to', 'want', 'need', 'is', 'are', 'can', 'you', 'for', 'with', 'and', 'on', 'at', 'what',
    'when', 'of', 'have', 'next', 'this', 'would', 'like', 'please', 'thanks', 'would', 'there', 'it', 'in', 'your', 'name'],
  es: ['quiero', 'necesito', 'una', 'por', 'para', 'con', 'mi', 'mis', 'el', 'los', 'las', 'que', 'es', 'y', 'me', 'puedo', 'tengo',
    'día', 'semana', 'próximo', 'próxima', 'viene', 'llamo', 'nombre', 'favor', 'hola', 'vale', 'la', 'de', 'en', 'del', 'al', 'hora', 'cita'],
  ca: ['vull', 'necessito', 'per', 'amb', 'meu', 'meva', 'meves', 'els', 'les', 'i', 'tinc', 'puc', 'dia', 'setmana', 'vinent',
    'dic', 'nom', 'hola', 'vale', 'la', 'de', 'en', 'el', 'al', 'que', 'es', 'una', 'hora', 'cita', 'd', 'l', 'em', 'sisplau'],
  hi: ['hai', 'hain', 'mein', 'mujhe', 'muje', 'mera', 'meri', 'mere', 'ka', 'ki', 'ke', 'ko', 'se', 'karna', 'karni', 'karo',
    'chahiye', 'chahta', 'chahti', 'nahi', 'kya', 'kab', 'kaise', 'aap', 'hum', 'baje', 'baat', 'wala', 'wali', 'theek', 'acha',
    'accha', 'abhi', 'naam', 'din', 'hoga', 'tha', 'yeh', 'doctor sahab', 'ji', 'agle', 'agla', 'kar', 'karke', 'dikhao',
    'batao', 'aur', 'bhi', 'liye', 'kuch', 'mujhse', 'sakta', 'sakti'],
};

/** Loanwords Hinglish speakers use as much as English speakers: no evidence of either language. */
export const NEUTRAL_WORDS: readonly string[] = ['appointment', 'appointments', 'doctor', 'dr', 'ok', 'okay', 'book', 'cancel', 'report',
  'reports', 'bill', 'time', 'date', 'sorry', 'please', 'thanks', 'thank', 'you', 'hi', 'hello', 'reschedule', 'confirm', 'slot', 'lab',
  'test', 'stop', 'start', 'payment', 'refund', 'result', 'complaint', 'receptionist', 'staff', 'menu', 'help', 'chest', 'heart',
  'attack', 'no', 'si', 'sí'];
