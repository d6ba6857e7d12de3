/** Time comes in as an argument (STYLE §6) so expiry is tested without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** SPEC §2 lifetimes. */
export const LIFETIMES = {
  accessToken: HOUR,
  refreshToken: 30 * DAY,
  authorizationCode: 10 * MINUTE,
  authorizationRequest: 30 * MINUTE,
  browserSession: 7 * DAY,
  signinChallenge: 5 * MINUTE,
  setupToken: DAY,
} as const;
