import { registerEnumType } from 'type-graphql';

/** Calendar periods on the wire (API.md names the enum LimitPeriod; expiry policies use it too). */
export enum LimitPeriod {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
  YEAR = 'YEAR',
}
registerEnumType(LimitPeriod, {
  name: 'LimitPeriod',
  description: 'A calendar period in a time zone: a day, an ISO week (from Monday), a month or a year.',
});
