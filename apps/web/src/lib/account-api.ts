import { api } from './api.ts';

/** GET /api/auth/telegram: the server's bot, and the Telegram account linked to the caller. */
export interface TelegramLinkDto {
  /** A bot is configured on this server (TELEGRAM_BOT_TOKEN). */
  enabled: boolean;
  bot_username: string | null;
  linked: { telegram_user_id: string; username: string | null; linked_at: string } | null;
}

/** POST /api/auth/telegram/link: a single-use code that links the Telegram account sending it. */
export interface TelegramLinkCodeDto {
  code: string;
  expires_at: string;
  /** Opens the chat with the bot and sends /start <code>; null while the bot's name is unknown. */
  deep_link: string | null;
  /** What to send the bot instead of opening the link: `/start <code>`. */
  command: string;
}

/** The signed-in user's own settings (My account); the server only ever acts on the caller. */
export const telegram = {
  status: () => api.get<TelegramLinkDto>('/api/auth/telegram'),
  createCode: () => api.post<TelegramLinkCodeDto>('/api/auth/telegram/link'),
  unlink: () => api.delete<{ unlinked: boolean }>('/api/auth/telegram'),
};
