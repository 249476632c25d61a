import { Module } from '@nestjs/common';
import { RegistrationsController } from './registrations.controller';
import { InMemoryLocationService } from './registrar/location-service';
import { LOCATION_SERVICE, SipService } from './sip.service';
import { sipTargetResolverProvider } from './dns';

/**
 * SIP on the signaling node: transports, transactions, the registrar, the proxy, and the O&M API.
 * The location service is bound to LOCATION_SERVICE; the in-memory one stands until the
 * cluster-backed one (libs/cluster's read model over Redis streams) replaces it here.
 */
@Module({
  controllers: [RegistrationsController],
  providers: [{ provide: LOCATION_SERVICE, useFactory: () => new InMemoryLocationService() }, SipService, sipTargetResolverProvider],
  exports: [SipService, LOCATION_SERVICE],
})
export class SipModule {}
