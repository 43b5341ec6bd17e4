/** What patients write, per language, for the dialogue tests. Dates are relative to Tuesday 10 March 2026. */
import type { Lang } from '../../bot/understanding/types.js';

export interface Phrases {
  hello: string; book: string; bookFull: string; specialty: string; day: string; yes: string; no: string; list: string; cancel: string;
  reschedule: string; human: string; billing: string; results: string; complaint: string; emergency: string[]; optOut: string;
  optIn: string; name: string; gibberish: string; thanks: string; menu: string;
  /** Questions about the clinic: where it is, when it is open, its phone number, and the price of a visit (billing). */
  where: string; hours: string; phone: string; price: string;
  /** Running late for an appointment; a prescription or medication question (both handed to staff). */
  late: string; medical: string;
  /** Rescheduling in one message, naming the appointment's day (Thursday) and the new one (Friday at 16:00). */
  move: string;
}

export const PHRASES: Record<Lang, Phrases> = {
  en: {
    hello: 'hello', book: 'I want to book an appointment', bookFull: 'book cardiology tomorrow afternoon', specialty: 'cardiology',
    day: 'tomorrow morning', yes: 'yes', no: 'no', list: 'show my appointments', cancel: 'I want to cancel my appointment',
    reschedule: 'I need to reschedule my appointment', human: 'I want to talk to a person', billing: 'I have a question about my bill',
    results: 'are my test results ready?', complaint: 'I want to make a complaint', emergency: ['I have chest pain', "I can't breathe"],
    optOut: 'STOP', optIn: 'START', name: 'my name is Ana López', gibberish: 'qwerty zxcv', thanks: 'thank you', menu: 'menu',
    where: 'where are you located?', hours: 'what are your opening hours?', phone: "what's your phone number?",
    price: 'how much does a consultation cost?', late: "I'm running 15 minutes late", medical: 'I need a repeat prescription',
    move: 'can you move my Thursday appointment to Friday at 4pm?',
  },
  es: {
    hello: 'buenos días', book: 'quiero pedir cita', bookFull: 'quiero una cita con el cardiólogo mañana por la tarde', specialty: 'cardiología',
    day: 'mañana por la mañana', yes: 'sí', no: 'no', list: 'mis citas', cancel: 'quiero cancelar mi cita', reschedule: 'quiero cambiar mi cita',
    human: 'quiero hablar con una persona', billing: 'tengo una duda con la factura', results: '¿están mis resultados?',
    complaint: 'quiero poner una queja', emergency: ['tengo dolor en el pecho', 'no puedo respirar'], optOut: 'BAJA', optIn: 'ALTA',
    name: 'me llamo Ana López', gibberish: 'qwerty zxcv', thanks: 'gracias', menu: 'inicio',
    where: '¿dónde estáis?', hours: '¿qué horario tenéis?', phone: '¿cuál es vuestro teléfono?', price: '¿cuánto cuesta la consulta?',
    late: 'voy a llegar tarde, hay mucho tráfico', medical: 'necesito una receta para mis pastillas',
    move: '¿puedes pasar mi cita del jueves al viernes a las 16:00?',
  },
  ca: {
    hello: 'bon dia', book: 'vull demanar hora', bookFull: 'vull una cita amb cardiologia demà a la tarda', specialty: 'cardiologia',
    day: 'demà al matí', yes: "d'acord", no: 'no', list: 'les meves cites', cancel: 'vull cancel·lar la meva cita',
    reschedule: 'vull canviar la meva cita', human: 'vull parlar amb una persona', billing: 'tinc un dubte amb la factura',
    results: 'els meus resultats', complaint: 'vull fer una queixa', emergency: ['tinc dolor al pit', 'no puc respirar'], optOut: 'PROU',
    optIn: 'ALTA', name: 'em dic Ana López', gibberish: 'qwerty zxcv', thanks: 'gràcies', menu: 'inici',
    where: 'on sou?', hours: 'quin horari teniu?', phone: 'quin és el vostre telèfon?', price: 'quant costa una visita?',
    late: 'arribaré tard, hi ha molt trànsit', medical: 'necessito una recepta',
    move: 'vull canviar la cita de dijous a divendres a les 16:00',
  },
  hi: {
    hello: 'namaste', book: 'appointment chahiye', bookFull: 'kal dopahar cardiology ka appointment chahiye', specialty: 'cardiology',
    day: 'kal subah', yes: 'haan', no: 'nahi', list: 'meri appointments dikhao', cancel: 'appointment radd karna hai',
    reschedule: 'appointment badalna hai', human: 'kisi insaan se baat karni hai', billing: 'bill ke baare mein sawal hai',
    results: 'meri report aayi kya', complaint: 'mujhe shikayat karni hai', emergency: ['seene mein dard hai', 'saans nahi aa rahi'],
    optOut: 'band karo', optIn: 'shuru', name: 'mera naam Ana hai', gibberish: 'qwerty zxcv', thanks: 'dhanyavad', menu: 'मेनू',
    where: 'clinic kahan hai?', hours: 'clinic kab khulta hai?', phone: 'aapka phone number kya hai?', price: 'consultation ki fees kitni hai?',
    late: 'main thoda late ho jaunga', medical: 'mujhe dawai ki parchi chahiye',
    move: 'guruvar wali appointment shukravar ko 4 baje badal do',
  },
};
