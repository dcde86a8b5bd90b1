export {
  NOTIFICATION_CHANNELS,
  announcesWork,
  isNotificationChannel,
  parseNotification,
  type Notification,
  type NotificationChannel,
} from './channels.ts';
export {
  Notifier,
  type NotifierEvent,
  type NotifierListener,
  type NotifierOptions,
  type NotifierStats,
} from './notifier.ts';
export { keepCacheCoherent, NOTIFICATION_GAP_LOG } from './cache-coherence.ts';
