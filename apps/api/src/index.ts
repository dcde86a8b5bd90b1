export { createApp, API_VERSION, OPENAPI_PATH, type ApiApp, type CreateAppOptions } from './app.ts';
export {
  readApiConfig,
  API_SETTINGS,
  API_OWN_SETTINGS,
  API_SETTING_DESCRIPTORS,
  type ApiConfig,
  type AppConfig,
} from './config.ts';
export { ApiError, HTTP_STATUS_BY_CODE, toApiError, type ApiErrorCode } from './errors.ts';
export { startServer, type RunningServer } from './server.ts';
