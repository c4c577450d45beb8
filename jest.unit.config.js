/** `npm run test:unit`: the unit project of jest.config.js alone, no broker, no Redis. */
import config, { unitProject } from './jest.config.js';

export default { ...config, projects: [unitProject] };
